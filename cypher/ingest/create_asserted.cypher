// Create asserted relationships of one type unless an asserted one already links the pair (idempotent).
// Predicted relationships of the same type are left alone. $rows: [{head, tail, split}].
// created_at/updated_at (ms, the store's clock) let the incremental job find links added since its watermark.
UNWIND $rows AS row
MATCH (h:Entity {id: row.head})
MATCH (t:Entity {id: row.tail})
OPTIONAL MATCH (h)-[x:__REL_TYPE__]->(t)
WHERE x.predicted IS NULL
WITH row, h, t, count(x) AS existing
WHERE existing = 0
CREATE (h)-[r:__REL_TYPE__]->(t)
SET r.split = row.split, r.created_at = timestamp(), r.updated_at = timestamp()
RETURN count(r) AS count
