// The registry of labels: (:KgpLabel {label, source_id}), where source_id is the entity type text the label was
// named from ('grande école' for GrandeEcole). Idempotent: the source of a label is set once.
// $rows: [{label, source_id}].
UNWIND $rows AS row
MERGE (l:KgpLabel {label: row.label})
ON CREATE SET l.source_id = row.source_id, l.created_at = timestamp()
RETURN count(l) AS count
