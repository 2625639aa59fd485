// The labels and relationship types declared by ingest (empty lists when nothing was ingested).
OPTIONAL MATCH (s:KgpSchema {name: 'default'})
RETURN coalesce(s.labels, []) AS labels, coalesce(s.rel_types, []) AS rel_types
