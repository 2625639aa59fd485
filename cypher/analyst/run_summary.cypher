// One run's predicted edges per relationship type: how many are proposed, accepted and rejected, and their
// probabilities.
// @param run_id: string -- the run
MATCH ()-[r]->()
WHERE r.predicted = true AND r.run_id = $run_id
RETURN type(r) AS rel_type, count(r) AS edges,
       count(CASE WHEN r.status = 'proposed' THEN r END) AS proposed,
       count(CASE WHEN r.status = 'accepted' THEN r END) AS accepted,
       count(CASE WHEN r.status = 'rejected' THEN r END) AS rejected,
       min(r.probability) AS min_probability, avg(r.probability) AS mean_probability,
       max(r.probability) AS max_probability
ORDER BY rel_type
