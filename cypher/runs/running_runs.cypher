// Runs still marked 'running' that a process of this platform owns (in-process `kgp pipeline` runs): the
// reconciler checks whether that process is alive.
MATCH (r:KgpRun)
WHERE r.status = 'running' AND r.owner IS NOT NULL
RETURN r.run_id AS run_id, r.owner AS owner
