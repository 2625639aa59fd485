// One run's predicted edges as a graph (for Neo4j Browser: the style file captions them with their status and
// probability), most probable first.
// @param run_id: string -- the run
// @param status: string = null -- only 'proposed', 'accepted' or 'rejected' edges (null: all)
// @param limit: int = 50 -- at most this many edges
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true AND r.run_id = $run_id AND ($status IS NULL OR r.status = $status)
RETURN h, r, t
ORDER BY r.probability DESC, h.id, t.id
LIMIT $limit
