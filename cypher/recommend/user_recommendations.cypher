// One user's recommendations, best rank first, from the newest run that recommended to the user (the run whose
// edges were written last; during a replacement that is the new run, whose rows for a user are written at once),
// or from $run_id. No row: no such user; one row with a null item: the user has no recommendations.
// $user: the user's id; $run_id: a run, or null for the newest; $k: at most this many rows.
MATCH (u:User {id: $user})
OPTIONAL MATCH (u)-[r:RECOMMENDED]->(:Entity)
WHERE r.predicted = true AND ($run_id IS NULL OR r.run_id = $run_id)
WITH u, r.run_id AS run_id, max(r.created_at) AS written_at
ORDER BY written_at DESC, run_id DESC
LIMIT 1
OPTIONAL MATCH (u)-[r:RECOMMENDED]->(i:Entity)
WHERE r.predicted = true AND r.run_id = run_id
RETURN i.id AS item, i.name AS name, r.score AS score, r.rank AS rank, r.evidence AS evidence, r.run_id AS run_id,
       r.model AS model
ORDER BY rank, item
LIMIT $k
