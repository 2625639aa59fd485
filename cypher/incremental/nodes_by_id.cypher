// The entities with these ids ($ids), with the fields the exporter reads (see export/nodes_page).
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN n.id AS id, [l IN labels(n) WHERE l <> 'Entity'][0] AS label, n.name AS name, n.description AS description
