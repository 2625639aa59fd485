// Items after the cursor ($since: created_at in ms, the store's clock; $after: id, for items stamped in the same
// millisecond, as one ingest batch is), in (created_at, id) order, at most $limit, with one of $labels (empty: any
// entity): the products the API folds in while it serves. Each comes with its text and its asserted or accepted
// relationships to other entities (head: whether the item is the relationship's start).
MATCH (n:Entity)
WHERE n.created_at >= $since AND (n.created_at > $since OR n.id > $after)
  AND (size($labels) = 0 OR any(l IN labels(n) WHERE l IN $labels))
WITH n
ORDER BY n.created_at, n.id
LIMIT $limit
OPTIONAL MATCH (n)-[r]-(m:Entity)
WHERE coalesce(r.predicted, false) = false OR r.status = 'accepted'
WITH n, collect(CASE WHEN r IS NULL THEN NULL ELSE {type: type(r), other: m.id, head: startNode(r).id = n.id} END)
     AS edges
RETURN n.id AS id, n.name AS name, n.description AS description, n.created_at AS created_at, edges
ORDER BY created_at, id
