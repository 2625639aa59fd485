// Predicted edges counted by relationship type, run and status: the review page's filter choices.
MATCH ()-[r]->()
WHERE r.predicted = true
RETURN type(r) AS rel_type, r.run_id AS run_id, r.status AS status, count(r) AS count
ORDER BY rel_type, run_id, status
