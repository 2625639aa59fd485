// One run node with its config, metrics and counts (JSON strings).
MATCH (r:KgpRun {run_id: $run_id})
RETURN r.run_id AS run_id, r.created_at AS created_at, r.model AS model, r.status AS status, r.config AS config,
       r.metrics AS metrics, r.counts AS counts, r.snapshot_hash AS snapshot_hash, r.method AS method
