// When a run's export began (ms, the store's clock): items created after it may be missing from its data.
MATCH (r:KgpRun {run_id: $run_id})
RETURN r.created_at AS created_at, r.status AS status, r.method AS method
