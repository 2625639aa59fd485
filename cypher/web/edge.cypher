// One predicted edge (head, type, tail), in every run that wrote it unless $run_id names one; newest first.
// __REL_TYPE__ is a validated, declared relationship type.
// @param head: string -- the head's id
// @param tail: string -- the tail's id
// @param run_id: string = null -- only this run's edge (null: every run's)
MATCH (h:Entity {id: $head})-[r:__REL_TYPE__]->(t:Entity {id: $tail})
WHERE r.predicted = true AND ($run_id IS NULL OR r.run_id = $run_id)
RETURN h.id AS head, h.name AS head_name, labels(h) AS head_labels, type(r) AS rel_type, t.id AS tail,
       t.name AS tail_name, labels(t) AS tail_labels, r.probability AS probability, r.score AS score,
       r.status AS status, r.run_id AS run_id, r.model AS model, r.method AS method, r.evidence AS evidence,
       r.created_at AS created_at, r.reviewed_by AS reviewed_by, r.reviewed_at AS reviewed_at
ORDER BY created_at DESC, run_id DESC
