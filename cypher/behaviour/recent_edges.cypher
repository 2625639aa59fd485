// Behaviour of one type (__REL_TYPE__, a declared behaviour type) written after $since (ms, the store's clock:
// created_at), newest first, at most $limit rows: the new interactions the recommender's drift guard ranks
// (pipeline/recdrift.py) and the serving API folds in (serving/service.py). Read-only.
// The ends carry no labels on purpose: behaviour types only ever join (:User) to (:Entity), and with labels
// FalkorDB scans every relationship of the type instead of using its created_at index (measured on 850k
// interactions: 5 s against 5 ms).
MATCH (u)-[r:__REL_TYPE__]->(t)
WHERE r.created_at > $since
RETURN u.id AS user, t.id AS item, r.created_at AS created_at
ORDER BY created_at DESC
LIMIT $limit
