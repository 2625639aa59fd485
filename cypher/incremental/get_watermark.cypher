// The incremental job's watermark ($name): changes stamped at or before `at` (ms) have been scored and written.
// `now` is the store's clock, the upper end of the next window.
OPTIONAL MATCH (w:KgpWatermark {name: $name})
RETURN w.at AS at, w.run_id AS run_id, w.base_run AS base_run, timestamp() AS now
