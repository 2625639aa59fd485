// Behaviour of one type (__REL_TYPE__, a declared behaviour type) written after $since (ms, the store's clock:
// created_at), newest first, at most $limit rows: the new interactions the recommender's drift guard ranks
// (pipeline/recdrift.py). Read-only.
MATCH (u:User)-[r:__REL_TYPE__]->(t:Entity)
WHERE r.created_at > $since
RETURN u.id AS user, t.id AS item, r.created_at AS created_at
ORDER BY created_at DESC
LIMIT $limit
