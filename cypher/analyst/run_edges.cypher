// The predicted edges of one run, by relationship type, then most probable first.
// @param run_id: string -- the run (see `kgp runs list` or analyst/runs)
// @param rel_type: string = null -- only this relationship type (null: every type)
// @param status: string = null -- only 'proposed', 'accepted' or 'rejected' edges (null: all)
// @param limit: int = 1000 -- at most this many rows
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true AND r.run_id = $run_id
  AND ($rel_type IS NULL OR type(r) = $rel_type)
  AND ($status IS NULL OR r.status = $status)
RETURN h.id AS head, h.name AS head_name, type(r) AS rel_type, t.id AS tail, t.name AS tail_name,
       r.probability AS probability, r.score AS score, r.status AS status, r.reviewed_by AS reviewed_by,
       r.reviewed_at AS reviewed_at, r.created_at AS created_at
ORDER BY rel_type, probability DESC, head, tail
LIMIT $limit
