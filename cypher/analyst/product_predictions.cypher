// The top predictions touching one node (a product), in either direction, most probable first.
// `direction` is 'out' when the node is the head of the edge, 'in' when it is the tail.
// @param id: string -- the node's id, e.g. 'p:42'
// @param include_rejected: bool = false -- also list edges a reviewer rejected
// @param limit: int = 10 -- at most this many rows
MATCH (n:Entity {id: $id})-[r]-(other:Entity)
WHERE r.predicted = true AND ($include_rejected OR r.status <> 'rejected')
RETURN type(r) AS rel_type, CASE WHEN startNode(r) = n THEN 'out' ELSE 'in' END AS direction,
       other.id AS other, other.name AS other_name, r.probability AS probability, r.status AS status,
       r.run_id AS run_id, r.evidence AS evidence
ORDER BY probability DESC, rel_type, other
LIMIT $limit
