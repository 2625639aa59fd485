// Like review/select_edges, for a selector that names the head: starts from the head's index entry.
// __REL_TYPE__ is a validated, declared relationship type. $head is required; the other filters may be null.
MATCH (h:Entity {id: $head})-[r:__REL_TYPE__]->(t:Entity)
WHERE r.predicted = true
  AND ($tail IS NULL OR t.id = $tail)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND ($min_probability IS NULL OR r.probability >= $min_probability)
  AND ($max_probability IS NULL OR r.probability <= $max_probability)
RETURN h.id AS head, type(r) AS rel_type, t.id AS tail, r.run_id AS run_id, r.status AS status,
       r.probability AS probability
ORDER BY run_id, head, tail
