// The properties of the entities $ids (item attributes: prices, colours, ...) as [key, value] pairs, without the
// keys in $skip (the stored embedding: a long vector, not an attribute, that need not cross the wire). Read-only.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN n.id AS id, [k IN keys(n) WHERE NOT k IN $skip | [k, n[k]]] AS props
