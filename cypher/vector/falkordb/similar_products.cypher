// The entities most like one entity by their stored embeddings, the entity itself left out: "products like this
// one". score: cosine similarity (1: same direction; FalkorDB's own score is the distance 1 - cosine). The index
// returns the $candidates nearest entities of any label, then those with $label are kept: raise $candidates when
// fewer than $k rows come back for a rare label. No row: the entity has no embedding (a recommendation run
// writes them).
// dialect: falkordb
// @param id: string -- the entity's id, e.g. 'p:42'
// @param k: int = 10 -- at most this many rows, most similar first
// @param label: string = 'Product' -- only entities with this label (null: any label)
// @param candidates: int = 100 -- how many nearest entities the index returns before the label filter
MATCH (s:Entity {id: $id})
WHERE s.embedding IS NOT NULL
CALL db.idx.vector.queryNodes('Entity', 'embedding', $candidates, s.embedding) YIELD node, score
WITH s, node, 1 - score AS similarity
WHERE node <> s AND ($label IS NULL OR $label IN labels(node))
RETURN node.id AS id, node.name AS name, [l IN labels(node) WHERE l <> 'Entity'][0] AS label, similarity AS score
ORDER BY score DESC, id
LIMIT $k
