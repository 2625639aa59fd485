// People and behaviour relationships per type and split: what an ingest wrote, for checks and reports. Read-only.
MATCH (u:User)-[r]->(:Entity)
WHERE type(r) IN $types
RETURN type(r) AS type, r.split AS split, count(r) AS relationships, count(DISTINCT u) AS users
ORDER BY type, split
