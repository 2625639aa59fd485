// The review audit trail, newest first: one row per edge whose status a review changed.
// $run_id: only reviews of this run's edges, or null for all; $limit: at most this many rows.
MATCH (v:KgpReview)
WHERE $run_id IS NULL OR v.run_id = $run_id
RETURN v.review_id AS review_id, v.at AS at, v.by AS by, v.action AS action, v.head AS head,
       v.rel_type AS rel_type, v.tail AS tail, v.run_id AS run_id, v.previous_status AS previous_status,
       v.status AS status
ORDER BY at DESC, review_id DESC, rel_type, head, tail
LIMIT $limit
