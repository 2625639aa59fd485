// Delete up to $batch predicted relationships of one run and type; only rows with predicted = true and this
// run_id can match, so asserted facts are never removed. Reviewed edges are reviewers' knowledge: accepted ones
// stay unless $include_accepted, rejected ones (known negatives for training) unless $include_rejected.
// Recommendations (RECOMMENDED) have no status: `r.status IS NULL` keeps them retractable.
MATCH ()-[r:__REL_TYPE__]->()
WHERE r.run_id = $run_id AND r.predicted = true
  AND (r.status IS NULL OR (($include_accepted OR r.status <> 'accepted')
                            AND ($include_rejected OR r.status <> 'rejected')))
WITH r LIMIT $batch
DELETE r
RETURN count(*) AS count
