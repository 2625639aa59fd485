// The properties of the entities $ids (item attributes: prices, colours, ...). Read-only.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN n.id AS id, properties(n) AS props
