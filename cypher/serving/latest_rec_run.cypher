// The newest completed recommendation run of the graph (what `kgp serve-api` serves unless told otherwise), with
// created_at (ms, the store's clock, stamped when its export began).
MATCH (r:KgpRun)
WHERE r.method = $method AND r.status = 'completed'
RETURN r.run_id AS run_id, r.created_at AS created_at
ORDER BY created_at DESC
LIMIT 1
