// Entities of $rows that carry a label other than :Entity and their own (row.label): after a type change on
// re-ingest, the labels to remove. $rows: [{id, label}]. Read-only.
UNWIND $rows AS row
MATCH (n:Entity {id: row.id})
WITH n, [l IN labels(n) WHERE l <> 'Entity' AND l <> row.label] AS stale
WHERE size(stale) > 0
RETURN n.id AS id, stale
