// Benchmark only (bench/storeio): the raw-client baseline of ingest, a bare UNWIND ... MERGE of one label's
// entities with the properties ingest gives them. $rows: [{id, name, description, type}].
UNWIND $rows AS row
MERGE (n:Entity:__LABEL__ {id: row.id})
SET n.name = row.name, n.description = row.description, n.type = row.type, n.created_at = timestamp(),
    n.updated_at = timestamp()
