// Ingests that did not complete, oldest first: running, stopped by a crash (still 'running') or 'failed'. Their
// data may be partly written; readers that must not see half a graph (incremental scoring) wait for them.
MATCH (i:KgpIngest)
WHERE i.status <> 'completed'
RETURN i.id AS id, i.source AS source, i.status AS status, i.started_at AS started_at, i.attempts AS attempts,
       i.entities AS entities, i.triples AS triples, i.error AS error
ORDER BY started_at, id
