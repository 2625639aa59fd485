// Delete the entities a discovery run proposed that are still proposed and have no relationship left (the run's
// own links are retracted first; an accepted node, or one something else now links to, stays).
MATCH (n:Entity)
WHERE n.run_id = $run_id AND n.proposed = true AND n.status = 'proposed' AND NOT (n)--()
WITH n LIMIT $batch
DELETE n
RETURN count(*) AS count
