// The behaviour relationship types declared by ingest (an empty list when no behaviour was ever loaded).
OPTIONAL MATCH (s:KgpSchema {name: 'behaviour'})
RETURN coalesce(s.types, []) AS types
