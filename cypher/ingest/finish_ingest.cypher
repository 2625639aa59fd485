// Mark an ingest completed after its last write. $id; $relationships_created (by this run: 0 on a rerun that
// found everything written), $relabelled (entities whose type changed and lost their old label).
MATCH (i:KgpIngest {id: $id})
SET i.status = 'completed', i.finished_at = timestamp(), i.error = null,
    i.relationships_created = $relationships_created, i.relabelled = $relabelled
RETURN i.id AS id
