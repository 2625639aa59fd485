// A proposed entity (a discovery run's, cypher/discover/) is accepted with the first accepted link to it: from
// then on export reads it as part of the graph. $ids: the tails of the links just accepted.
UNWIND $ids AS id
MATCH (t:Entity {id: id})
WHERE t.proposed = true AND t.status = 'proposed'
SET t.status = 'accepted', t.reviewed_by = $by, t.reviewed_at = timestamp()
RETURN count(t) AS count
