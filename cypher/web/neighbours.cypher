// A node's asserted relationships (either direction) with the node at the other end: the review page's graph.
// @param id: string -- the node's id
// @param limit: int = 30 -- at most this many relationships
MATCH (n:Entity {id: $id})-[r]-(m:Entity)
WHERE r.predicted IS NULL
RETURN startNode(r).id AS source, type(r) AS rel_type, endNode(r).id AS target, m.id AS id, m.name AS name,
       labels(m) AS labels
ORDER BY rel_type, id
LIMIT $limit
