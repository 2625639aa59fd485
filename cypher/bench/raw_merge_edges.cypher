// Benchmark only (bench/storeio): the raw-client baseline of ingest, a bare UNWIND ... MERGE of one type's
// relationships with the properties ingest gives them. $rows: [{head, tail, split}].
UNWIND $rows AS row
MATCH (h:Entity {id: row.head})
MATCH (t:Entity {id: row.tail})
MERGE (h)-[r:__REL_TYPE__]->(t)
SET r.split = row.split, r.created_at = timestamp(), r.updated_at = timestamp()
