// Set a run's status ('running', 'completed', 'failed', 'retracted').
MATCH (r:KgpRun {run_id: $run_id})
SET r.status = $status
RETURN r.run_id AS run_id, r.status AS status
