// Entities of one label that were not in the store a moment ago (ingest/known_ids): their labels are part of the
// MERGE pattern, because adding a label to an existing node (SET n:Label) costs FalkorDB ten times the MERGE.
// $rows: [{id, name, description, type, props?}]. A row another ingest created meanwhile with the same label is
// matched and updated; merge_entities handles entities that existed before.
UNWIND $rows AS row
MERGE (n:Entity:__LABEL__ {id: row.id})
ON CREATE SET n.created_at = timestamp(), n.updated_at = timestamp()
SET n += coalesce(row.props, {}), n.name = row.name, n.description = row.description, n.type = row.type
RETURN count(n) AS count
