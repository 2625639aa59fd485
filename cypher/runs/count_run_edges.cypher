// Predicted relationships of one run, counted by type and status.
MATCH ()-[r]->()
WHERE r.run_id = $run_id AND r.predicted = true
RETURN type(r) AS rel_type, r.status AS status, count(r) AS count
ORDER BY rel_type, status
