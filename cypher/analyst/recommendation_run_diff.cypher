// Two recommendation runs compared per user and item: only in A, only in B, or in both with the rank change.
// A newer run replaces a user's older recommendations when it is written, so both runs are in the graph only
// for users the newer one has not reached (yet), or when it was written beside the other (replace=False).
// `diff` is 'only_a', 'only_b' or 'both'; `rank_change` is rank in B minus rank in A (negative: moved up).
// @param run_a: string -- the first run
// @param run_b: string -- the second run
// @param user: string = null -- only this user's recommendations (null: every user)
// @param limit: int = 1000 -- at most this many rows
MATCH (u:User)-[r:RECOMMENDED]->(i:Entity)
WHERE r.predicted = true AND r.run_id IN [$run_a, $run_b] AND ($user IS NULL OR u.id = $user)
WITH u.id AS user, i.id AS item,
     min(CASE WHEN r.run_id = $run_a THEN r.rank END) AS rank_a,
     min(CASE WHEN r.run_id = $run_b THEN r.rank END) AS rank_b,
     max(CASE WHEN r.run_id = $run_a THEN r.score END) AS score_a,
     max(CASE WHEN r.run_id = $run_b THEN r.score END) AS score_b
RETURN user, item,
       CASE WHEN rank_b IS NULL THEN 'only_a' WHEN rank_a IS NULL THEN 'only_b' ELSE 'both' END AS diff,
       rank_a, rank_b, rank_b - rank_a AS rank_change, score_a, score_b
ORDER BY user, diff, coalesce(rank_b, rank_a), item
LIMIT $limit
