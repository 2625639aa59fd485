// Asserted relationships of one type created after $since (ms): the drift guard's count of new edges.
MATCH ()-[r:__REL_TYPE__]->()
WHERE r.created_at > $since AND r.predicted IS NULL
RETURN count(r) AS count
