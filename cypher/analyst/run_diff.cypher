// The difference between two runs: edges only in A, only in B, and in both with the change in probability.
// `diff` is 'only_a', 'only_b' or 'both'; `change` is probability in B minus probability in A (both only).
// @param run_a: string -- the first run
// @param run_b: string -- the second run
// @param limit: int = 1000 -- at most this many rows
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true AND r.run_id IN [$run_a, $run_b]
WITH h.id AS head, type(r) AS rel_type, t.id AS tail,
     max(CASE WHEN r.run_id = $run_a THEN r.probability END) AS probability_a,
     max(CASE WHEN r.run_id = $run_b THEN r.probability END) AS probability_b,
     max(CASE WHEN r.run_id = $run_a THEN r.status END) AS status_a,
     max(CASE WHEN r.run_id = $run_b THEN r.status END) AS status_b
RETURN head, rel_type, tail,
       CASE WHEN probability_b IS NULL THEN 'only_a' WHEN probability_a IS NULL THEN 'only_b' ELSE 'both' END AS diff,
       probability_a, probability_b, probability_b - probability_a AS change, status_a, status_b
ORDER BY diff, rel_type, head, tail
LIMIT $limit
