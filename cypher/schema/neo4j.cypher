// Neo4j 5 schema: uniqueness of domain keys and the run id. Idempotent (IF NOT EXISTS).
CREATE CONSTRAINT kgp_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgp_run_id IF NOT EXISTS FOR (r:KgpRun) REQUIRE r.run_id IS UNIQUE;
CREATE CONSTRAINT kgp_schema_name IF NOT EXISTS FOR (s:KgpSchema) REQUIRE s.name IS UNIQUE;
CREATE INDEX kgp_review_run IF NOT EXISTS FOR (v:KgpReview) ON (v.run_id);
