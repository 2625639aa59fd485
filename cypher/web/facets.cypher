// Predicted edges counted by relationship type, run and status: the review page's filter choices.
// Between entities only, like web/edges_page: a person's recommendations (User)-[:RECOMMENDED]-> are not reviewed.
MATCH (:Entity)-[r]->(:Entity)
WHERE r.predicted = true
RETURN type(r) AS rel_type, r.run_id AS run_id, r.status AS status, count(r) AS count
ORDER BY rel_type, run_id, status
