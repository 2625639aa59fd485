// Remove entity embeddings, at most $batch per call: those of $run_id (null: any run), except $keep_run_id's
// (null: none kept). Without the property an entity leaves the vector index. updated_at is left alone.
MATCH (n:Entity)
WHERE n.embedding_run IS NOT NULL AND ($run_id IS NULL OR n.embedding_run = $run_id)
  AND ($keep_run_id IS NULL OR n.embedding_run <> $keep_run_id)
WITH n LIMIT $batch
REMOVE n.embedding, n.embedding_run
RETURN count(n) AS count
