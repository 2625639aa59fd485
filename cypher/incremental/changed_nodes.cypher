// Entities created or changed in the window ($since, $until] (ms, the store's clock; ingest stamps updated_at).
MATCH (n:Entity)
WHERE n.updated_at > $since AND n.updated_at <= $until
RETURN n.id AS id
