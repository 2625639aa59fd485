// Create or update the run node. config/metrics/counts are JSON strings (FalkorDB has no map properties).
// $owner: 'host:pid:start' of the process that runs it in-process (null for worker jobs, whose reconciler
// watches them): a run left 'running' by a dead owner is marked 'failed' (runs/running_runs).
MERGE (r:KgpRun {run_id: $run_id})
ON CREATE SET r.created_at = timestamp()
SET r.model = $model, r.config = $config, r.metrics = $metrics, r.counts = $counts, r.status = $status,
    r.snapshot_hash = $snapshot_hash, r.method = $method, r.owner = $owner
RETURN r.run_id AS run_id, r.created_at AS created_at
