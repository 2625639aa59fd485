// One user's recommendations and why: rank, item, name, score, the graph path that explains it, and the run.
// Without $run_id, the newest run that recommended to the user: what `kgp recommend USER` serves.
// @param user: string -- the user's id
// @param run_id: string = null -- this run's recommendations (null: the newest run's)
// @param limit: int = 20 -- at most this many rows, best rank first
MATCH (u:User {id: $user})-[r:RECOMMENDED]->(:Entity)
WHERE r.predicted = true AND ($run_id IS NULL OR r.run_id = $run_id)
WITH u, r.run_id AS run_id, max(r.created_at) AS written_at
ORDER BY written_at DESC, run_id DESC
LIMIT 1
MATCH (u)-[r:RECOMMENDED]->(i:Entity)
WHERE r.predicted = true AND r.run_id = run_id
RETURN r.rank AS rank, i.id AS item, i.name AS name, r.score AS score, r.evidence AS evidence, run_id,
       r.model AS model, r.created_at AS created_at
ORDER BY rank, item
LIMIT $limit
