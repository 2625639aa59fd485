// Record an ingest before its first write: (:KgpIngest {id}) with status 'running'. The id is derived from the
// source, so a rerun of the same source (after a crash) finds this record and starts it again: attempts counts
// the runs, first_started_at keeps the first. $id, $source (resolved path, '' for a graph built in memory),
// $entities, $triples (counts parsed), $labels, $rel_types (lists of names). Stamps are ms, the store's clock.
MERGE (i:KgpIngest {id: $id})
ON CREATE SET i.first_started_at = timestamp(), i.attempts = 0
SET i.source = $source, i.status = 'running', i.started_at = timestamp(), i.finished_at = null, i.error = null,
    i.attempts = coalesce(i.attempts, 0) + 1, i.entities = $entities, i.triples = $triples, i.labels = $labels,
    i.rel_types = $rel_types
RETURN i.id AS id
