// FalkorDB schema: exact-match indexes on the domain keys (uniqueness is kept by MERGE on these keys).
CREATE INDEX FOR (n:Entity) ON (n.id);
CREATE INDEX FOR (r:KgpRun) ON (r.run_id);
CREATE INDEX FOR (s:KgpSchema) ON (s.name);
CREATE INDEX FOR (v:KgpReview) ON (v.run_id);
