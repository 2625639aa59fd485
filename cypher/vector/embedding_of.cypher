// Whether entity $id exists (a row) and carries an embedding.
MATCH (n:Entity {id: $id})
RETURN n.embedding IS NOT NULL AS embedded
