// Create behaviour relationships of one type (__REL_TYPE__, a declared behaviour type) from people to entities,
// unless one of that type with the same timestamp and split already links the pair (absent = absent), so a rerun
// creates nothing. Behaviour is asserted data: no `predicted` property. $rows: [{user, item, timestamp (epoch ms),
// rating, weight, review, split}], absent values null. created_at: ms, the store's clock.
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (t:Entity {id: row.item})
OPTIONAL MATCH (u)-[x:__REL_TYPE__]->(t)
WHERE coalesce(x.timestamp, -1) = coalesce(row.timestamp, -1) AND coalesce(x.split, '') = coalesce(row.split, '')
WITH row, u, t, count(x) AS existing
WHERE existing = 0
CREATE (u)-[r:__REL_TYPE__]->(t)
SET r.timestamp = row.timestamp, r.rating = row.rating, r.weight = row.weight, r.review = row.review,
    r.split = row.split, r.created_at = timestamp()
RETURN count(r) AS count
