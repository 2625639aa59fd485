// Benchmark only (bench/storeio): the raw-client baseline of export, one keyset page of entities.
MATCH (n:Entity)
WHERE n.id > $after
RETURN n.id AS id, n.name AS name, n.description AS description
ORDER BY id
LIMIT $page_size
