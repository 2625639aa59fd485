// How far predicted edges agree with embedding neighbours, per relationship type. A predicted edge h -[T]-> t
// agrees when one of h's $k nearest neighbours sharing a label with h (from the index's $candidates nearest
// entities) has an asserted T edge to t. Recommendations are left out. predicted: the predicted edges (one per
// head, type and tail); with_embedding: those whose head has an embedding; share: agreeing / with_embedding.
// @param k: int = 10 -- how many nearest neighbours of the head to look at
// @param candidates: int = 100 -- how many nearest entities the index returns before the label filter
// @param run_id: string = null -- only this run's predicted edges (null: every run's)
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true AND type(r) <> 'RECOMMENDED' AND ($run_id IS NULL OR r.run_id = $run_id)
WITH h, collect(DISTINCT {rel_type: type(r), tail: t.id}) AS edges
CALL (h) {
  WITH h WHERE h.embedding IS NOT NULL
  CALL db.index.vector.queryNodes('kgp_entity_embedding', $candidates, h.embedding) YIELD node, score
  WITH h, node, score
  WHERE node <> h AND any(l IN labels(node) WHERE l <> 'Entity' AND l IN labels(h))
  WITH node ORDER BY score DESC, node.id
  RETURN collect(node.id)[0..$k] AS neighbours
}
UNWIND edges AS e
OPTIONAL MATCH (m:Entity)-[a]->(:Entity {id: e.tail})
WHERE m.id IN neighbours AND type(a) = e.rel_type AND a.predicted IS NULL
WITH e.rel_type AS rel_type, h.embedding IS NOT NULL AS embedded, h.id AS head, e.tail AS tail, count(a) > 0 AS agrees
WITH rel_type, count(*) AS predicted, count(CASE WHEN embedded THEN 1 END) AS with_embedding,
     count(CASE WHEN agrees THEN 1 END) AS agreeing
RETURN rel_type, predicted, with_embedding, agreeing,
       CASE WHEN with_embedding = 0 THEN null ELSE toFloat(agreeing) / with_embedding END AS share
ORDER BY rel_type
