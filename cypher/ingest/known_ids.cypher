// Which of $ids are already entities (ingest sends the others down the faster create path). Read-only.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN n.id AS id
