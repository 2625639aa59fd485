// The entities nearest to a given vector (as long as the index's dimension), e.g. a person's vector from a run
// directory. score: cosine similarity (Neo4j's own score is (1 + cosine) / 2).
// @param vector: list -- the query vector
// @param k: int = 10 -- at most this many rows, most similar first
// @param label: string = null -- only entities with this label (null: any label)
// @param exclude: list = [] -- entity ids to leave out
// @param candidates: int = 100 -- how many nearest entities the index returns before the filters
CALL db.index.vector.queryNodes('kgp_entity_embedding', $candidates, $vector) YIELD node, score
WITH node, 2 * score - 1 AS similarity
WHERE NOT node.id IN $exclude AND ($label IS NULL OR $label IN labels(node))
RETURN node.id AS id, node.name AS name, [l IN labels(node) WHERE l <> 'Entity'][0] AS label, similarity AS score
ORDER BY score DESC, id
LIMIT $k
