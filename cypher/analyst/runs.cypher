// The prediction runs, newest first (the same runs as `kgp runs list`).
// @param limit: int = 20 -- at most this many runs
MATCH (run:KgpRun)
RETURN run.run_id AS run_id, run.created_at AS created_at, run.model AS model, run.status AS status,
       run.counts AS counts
ORDER BY created_at DESC, run_id
LIMIT $limit
