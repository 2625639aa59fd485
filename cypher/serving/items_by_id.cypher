// The entities $ids with their text and asserted or accepted relationships to other entities, as
// serving/new_items returns them: an interaction may name a product the API has not folded in yet.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
OPTIONAL MATCH (n)-[r]-(m:Entity)
WHERE coalesce(r.predicted, false) = false OR r.status = 'accepted'
WITH n, collect(CASE WHEN r IS NULL THEN NULL ELSE {type: type(r), other: m.id, head: startNode(r).id = n.id} END)
     AS edges
RETURN n.id AS id, n.name AS name, n.description AS description, n.created_at AS created_at, edges
