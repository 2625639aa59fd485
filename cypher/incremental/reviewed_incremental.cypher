// Incremental predictions of one type written after $since (ms) that a reviewer has since accepted or
// rejected: the drift guard's measure of incremental precision on later-confirmed edges.
MATCH ()-[r:__REL_TYPE__]->()
WHERE r.method = 'incremental' AND r.created_at > $since AND r.status IN ['accepted', 'rejected']
RETURN r.status AS status, count(r) AS count
