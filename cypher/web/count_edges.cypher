// How many predicted edges the review page's filters match (the same filters as web/edges_page).
// @param status: string = 'proposed' -- only edges with this status (null: all)
// @param rel_type: string = null -- only this relationship type (null: every type)
// @param run_id: string = null -- only this run's edges (null: every run)
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true
  AND ($status IS NULL OR r.status = $status)
  AND ($rel_type IS NULL OR type(r) = $rel_type)
  AND ($run_id IS NULL OR r.run_id = $run_id)
RETURN count(r) AS total
