// Mark an ingest failed: it stopped on an error after its first write, so its data may be partly written; a rerun
// of the same source completes it. $id, $error (the error's text).
MATCH (i:KgpIngest {id: $id})
SET i.status = 'failed', i.finished_at = timestamp(), i.error = $error
RETURN i.id AS id
