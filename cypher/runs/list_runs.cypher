// All runs, newest first.
MATCH (r:KgpRun)
RETURN r.run_id AS run_id, r.created_at AS created_at, r.model AS model, r.status AS status, r.counts AS counts
ORDER BY created_at DESC
