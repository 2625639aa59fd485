// Which of $ids are entities in the store (behaviour may only point at existing entities). Read-only.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN n.id AS id
