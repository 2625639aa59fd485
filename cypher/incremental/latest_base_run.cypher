// The newest completed full run ($method, e.g. 'text+gnn'): the model the incremental job scores with.
MATCH (r:KgpRun)
WHERE r.status = 'completed' AND r.method = $method
RETURN r.run_id AS run_id, r.created_at AS created_at, r.model AS model
ORDER BY created_at DESC
LIMIT $limit
