// Record review decisions on predicted relationships of one type, and one (:KgpReview) audit node per change.
// An edge changes only while it still has the status the selection saw (row.previous_status) and differs from
// the new one, so a concurrent review is never overwritten and repeating a review changes and records nothing.
// Provenance (score, probability, run_id, model, created_at, method, evidence) is left as it is.
// $rows: [{head, tail, run_id, previous_status, status, action, by, review_id}]; __REL_TYPE__ is validated.
WITH timestamp() AS now
UNWIND $rows AS row
MATCH (h:Entity {id: row.head})-[r:__REL_TYPE__]->(t:Entity {id: row.tail})
WHERE r.predicted = true AND r.run_id = row.run_id AND r.status = row.previous_status AND r.status <> row.status
SET r.status = row.status, r.reviewed_by = row.by, r.reviewed_at = now
CREATE (v:KgpReview {review_id: row.review_id, action: row.action, by: row.by, at: now, head: row.head,
                     rel_type: type(r), tail: row.tail, run_id: row.run_id, previous_status: row.previous_status,
                     status: row.status})
RETURN v.head AS head, v.tail AS tail, v.run_id AS run_id, v.at AS at
