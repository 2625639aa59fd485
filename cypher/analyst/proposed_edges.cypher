// Proposed edges awaiting review, most probable first.
// Every predicted relationship whose status is still 'proposed', with its run and provenance.
// @param rel_type: string = null -- only this relationship type, e.g. 'HAS_BRAND' (null: every type)
// @param run_id: string = null -- only this run's edges (null: every run)
// @param min_probability: float = 0.0 -- only edges with at least this calibrated probability
// @param limit: int = 100 -- at most this many rows
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true AND r.status = 'proposed'
  AND ($rel_type IS NULL OR type(r) = $rel_type)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND r.probability >= $min_probability
RETURN h.id AS head, h.name AS head_name, type(r) AS rel_type, t.id AS tail, t.name AS tail_name,
       r.probability AS probability, r.score AS score, r.run_id AS run_id, r.model AS model, r.evidence AS evidence
ORDER BY probability DESC, rel_type, head, tail
LIMIT $limit
