// Store entity vectors: $rows [{id, vector, run_id}]. An id with no entity is skipped: `count` says how many were
// written. setNodeVectorProperty stores 32-bit floats (half a list of floats' size), what the index reads.
// updated_at is left alone (the incremental job must not see a new vector as a changed entity).
UNWIND $rows AS row
MATCH (n:Entity {id: row.id})
CALL db.create.setNodeVectorProperty(n, 'embedding', row.vector)
SET n.embedding_run = row.run_id
RETURN count(n) AS count
