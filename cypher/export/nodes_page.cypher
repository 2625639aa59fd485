// One page of entities in id order (keyset paging: pass the last id seen as $after, '' for the first page).
// $labels: only entities with one of these labels; empty list = all entities. Entities a discovery run proposed
// are not part of the graph until a reviewer accepts them.
MATCH (n:Entity)
WHERE n.id > $after AND (size($labels) = 0 OR any(l IN labels(n) WHERE l IN $labels))
  AND (n.proposed IS NULL OR n.status = 'accepted')
RETURN n.id AS id, [l IN labels(n) WHERE l <> 'Entity'][0] AS label, n.name AS name, n.description AS description
ORDER BY id
LIMIT $page_size
