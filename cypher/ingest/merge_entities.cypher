// Upsert entities of one label, keyed by id. $rows: [{id, name, description, type}]. __LABEL__ is validated.
UNWIND $rows AS row
MERGE (n:Entity {id: row.id})
SET n:__LABEL__, n.name = row.name, n.description = row.description, n.type = row.type
RETURN count(n) AS count
