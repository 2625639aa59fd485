// Remove one stale label (__LABEL__, validated) from the entities $rows: [{id}], so a type change on re-ingest
// replaces the label instead of adding one.
UNWIND $rows AS row
MATCH (n:Entity {id: row.id})
REMOVE n:__LABEL__
RETURN count(n) AS count
