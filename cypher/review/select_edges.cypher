// The predicted relationships of one type that a review selector matches; a null filter matches everything.
// Asserted relationships have no `predicted` property, so they can never be selected (nor reviewed).
// __REL_TYPE__ is a validated, declared relationship type.
// $head, $tail, $run_id: ids or null; $min_probability, $max_probability: bounds (inclusive) or null.
MATCH (h:Entity)-[r:__REL_TYPE__]->(t:Entity)
WHERE r.predicted = true
  AND ($head IS NULL OR h.id = $head)
  AND ($tail IS NULL OR t.id = $tail)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND ($min_probability IS NULL OR r.probability >= $min_probability)
  AND ($max_probability IS NULL OR r.probability <= $max_probability)
RETURN h.id AS head, type(r) AS rel_type, t.id AS tail, r.run_id AS run_id, r.status AS status,
       r.probability AS probability
ORDER BY run_id, head, tail
