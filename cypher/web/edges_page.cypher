// One page of predicted edges for the review page, most probable first, with names and the stored evidence.
// @param status: string = 'proposed' -- only edges with this status ('proposed', 'accepted', 'rejected'; null: all)
// @param rel_type: string = null -- only this relationship type (null: every type)
// @param run_id: string = null -- only this run's edges (null: every run)
// @param offset: int = 0 -- rows to skip (paging)
// @param limit: int = 25 -- at most this many rows
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true
  AND ($status IS NULL OR r.status = $status)
  AND ($rel_type IS NULL OR type(r) = $rel_type)
  AND ($run_id IS NULL OR r.run_id = $run_id)
RETURN h.id AS head, h.name AS head_name, type(r) AS rel_type, t.id AS tail, t.name AS tail_name,
       r.probability AS probability, r.score AS score, r.status AS status, r.run_id AS run_id, r.model AS model,
       r.evidence AS evidence
ORDER BY probability DESC, rel_type, head, tail, run_id
SKIP $offset
LIMIT $limit
