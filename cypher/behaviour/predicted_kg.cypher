// The platform's own proposed (not yet reviewed) predicted edges between entities at or above a probability: what
// a recommendation run may also learn from (RecRunConfig.predicted_min_probability). Accepted ones are facts
// already, rejected ones never count. $min_probability: float; $limit: int.
MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.predicted = true AND r.status = 'proposed' AND r.probability >= $min_probability
RETURN h.id AS head, type(r) AS rel_type, t.id AS tail
ORDER BY head, rel_type, tail
LIMIT $limit
