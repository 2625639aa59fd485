// Entities added since a time, with the links the incremental job has written for them (newest first): did
// today's new products get their brand and category?
// @param since: int = 0 -- only entities created after this time (epoch ms; 0: all)
// @param label: string = null -- only entities with this label, e.g. 'Product' (null: every label)
// @param limit: int = 100 -- at most this many entities
MATCH (n:Entity)
WHERE n.created_at > $since AND ($label IS NULL OR $label IN labels(n))
OPTIONAL MATCH (n)-[r]->(t:Entity)
WHERE r.method = 'incremental'
WITH n, collect(CASE WHEN r IS NULL THEN NULL ELSE {rel_type: type(r), tail: t.id, tail_name: t.name,
                 probability: r.probability, status: r.status, run_id: r.run_id} END) AS links
RETURN n.id AS id, n.name AS name, n.created_at AS created_at, size(links) AS incremental_links, links
ORDER BY created_at DESC, id
LIMIT $limit
