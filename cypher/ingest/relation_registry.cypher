// The registry of relationship types: each type with the relation id it was named from and its text.
MATCH (t:KgpRelationType)
RETURN t.type AS type, t.source_id AS source_id, t.text AS text
ORDER BY type
