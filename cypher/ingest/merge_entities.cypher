// Upsert entities of one label, keyed by id. $rows: [{id, name, description, type, props}]; props: a map of
// other attributes (RDF literals), whose keys never collide with the ones set here. __LABEL__ is validated.
// Stamps (ms, the store's clock): created_at once; updated_at when the node is new or its properties change, so
// re-ingesting the same data leaves it alone and the incremental job (cypher/incremental) sees only real changes.
UNWIND $rows AS row
MERGE (n:Entity {id: row.id})
ON CREATE SET n.created_at = timestamp()
WITH n, row,
     n.updated_at IS NULL OR coalesce(n.name, '') <> coalesce(row.name, '')
     OR coalesce(n.description, '') <> coalesce(row.description, '')
     OR coalesce(n.type, '') <> coalesce(row.type, '') AS changed
SET n:__LABEL__, n += coalesce(row.props, {}), n.name = row.name, n.description = row.description, n.type = row.type,
    n.updated_at = CASE WHEN changed THEN timestamp() ELSE n.updated_at END
RETURN count(n) AS count
