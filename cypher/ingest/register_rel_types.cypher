// The registry of relationship types: (:KgpRelationType {type, source_id, text}), where source_id is the relation
// id the type was named from ('http://dbpedia.org/ontology/birthPlace' for BIRTH_PLACE) and text the dataset's
// text for it. Idempotent: the source of a type is set once (ingest never gives a type to two sources); a text
// is kept when a later ingest has none. $rows: [{type, source_id, text}].
UNWIND $rows AS row
MERGE (t:KgpRelationType {type: row.type})
ON CREATE SET t.source_id = row.source_id, t.created_at = timestamp()
SET t.text = CASE WHEN row.text IS NULL OR row.text = '' THEN t.text ELSE row.text END
RETURN count(t) AS count
