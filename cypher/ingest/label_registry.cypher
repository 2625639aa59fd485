// The registry of labels: each label with the entity type text it was named from.
MATCH (l:KgpLabel)
RETURN l.label AS label, l.source_id AS source_id
ORDER BY label
