// One node with all its relationships, asserted and predicted, as a graph: what the model saw and what it added.
// @param id: string -- the node's id, e.g. 'p:42'
// @param limit: int = 100 -- at most this many relationships
MATCH (n:Entity {id: $id})-[r]-(m:Entity)
RETURN n, r, m
ORDER BY m.id
LIMIT $limit
