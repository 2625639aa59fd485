// Store entity vectors: $rows [{id, vector, run_id}]. An id with no entity is skipped: `count` says how many were
// written. vecf32: the index holds FalkorDB's 32-bit vector type, not a list. updated_at is left alone (the
// incremental job must not see a new vector as a changed entity).
// dialect: falkordb
UNWIND $rows AS row
MATCH (n:Entity {id: row.id})
SET n.embedding = vecf32(row.vector), n.embedding_run = row.run_id
RETURN count(n) AS count
