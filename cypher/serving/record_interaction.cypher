// One interaction from the API: (:User {id: $user})-[:__REL_TYPE__ {timestamp, weight, rating, created_at}]->
// (:Entity {id: $item}), __REL_TYPE__ a declared behaviour type. The person is created on first sight; the item
// must exist (no row comes back otherwise, and nothing is written). A retry with the same timestamp creates
// nothing (created 0). created_at: ms, the store's clock.
MATCH (t:Entity {id: $item})
MERGE (u:User {id: $user})
ON CREATE SET u.created_at = timestamp()
WITH u, t
OPTIONAL MATCH (u)-[x:__REL_TYPE__]->(t)
WHERE x.timestamp = $timestamp
WITH u, t, count(x) AS existing
FOREACH (_ IN CASE WHEN existing = 0 THEN [1] ELSE [] END |
  CREATE (u)-[r:__REL_TYPE__]->(t)
  SET r.timestamp = $timestamp, r.weight = $weight, r.rating = $rating, r.created_at = timestamp())
RETURN t.id AS item, CASE WHEN existing = 0 THEN 1 ELSE 0 END AS created, timestamp() AS now
