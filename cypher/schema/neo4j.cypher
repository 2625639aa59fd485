// Neo4j 5 schema: uniqueness of domain keys and the run id, range indexes on the change stamps the incremental
// job reads. Idempotent (IF NOT EXISTS). Per relationship type: schema/neo4j_relationship.
CREATE CONSTRAINT kgp_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;
CREATE INDEX kgp_entity_created IF NOT EXISTS FOR (n:Entity) ON (n.created_at);
CREATE INDEX kgp_entity_updated IF NOT EXISTS FOR (n:Entity) ON (n.updated_at);
CREATE CONSTRAINT kgp_run_id IF NOT EXISTS FOR (r:KgpRun) REQUIRE r.run_id IS UNIQUE;
CREATE CONSTRAINT kgp_schema_name IF NOT EXISTS FOR (s:KgpSchema) REQUIRE s.name IS UNIQUE;
CREATE INDEX kgp_review_run IF NOT EXISTS FOR (v:KgpReview) ON (v.run_id);
CREATE CONSTRAINT kgp_watermark_name IF NOT EXISTS FOR (w:KgpWatermark) REQUIRE w.name IS UNIQUE;
CREATE CONSTRAINT kgp_ingest_id IF NOT EXISTS FOR (i:KgpIngest) REQUIRE i.id IS UNIQUE;
CREATE CONSTRAINT kgp_relation_type IF NOT EXISTS FOR (t:KgpRelationType) REQUIRE t.type IS UNIQUE;
CREATE CONSTRAINT kgp_label IF NOT EXISTS FOR (l:KgpLabel) REQUIRE l.label IS UNIQUE;
CREATE CONSTRAINT kgp_user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE;
