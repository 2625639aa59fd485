// Asserted relationships of one type created in the window ($since, $until]: both ends count as changed.
// No labels on the ends: with them FalkorDB scans every Entity before using the relationship index (~40x slower).
MATCH (h)-[r:__REL_TYPE__]->(t)
WHERE r.created_at > $since AND r.created_at <= $until AND r.predicted IS NULL
RETURN h.id AS head, t.id AS tail
