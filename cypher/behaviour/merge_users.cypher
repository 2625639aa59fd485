// Upsert people, keyed by id: (:User {id}), a label of its own (never :Entity, so link prediction never sees
// them). $rows: [{id}]. created_at (ms, the store's clock) is set once.
UNWIND $rows AS row
MERGE (u:User {id: row.id})
ON CREATE SET u.created_at = timestamp()
RETURN count(u) AS count
