// Advance the watermark to $at once a window's edges are written; it never moves back.
MERGE (w:KgpWatermark {name: $name})
ON CREATE SET w.created_at = timestamp()
SET w.at = CASE WHEN w.at IS NULL OR $at > w.at THEN $at ELSE w.at END,
    w.run_id = $run_id, w.base_run = $base_run, w.updated_at = timestamp()
RETURN w.at AS at
