// FalkorDB schema: exact-match indexes on the domain keys (Entity.id, User.id, ...; uniqueness is kept by MERGE
// on these keys), and range indexes on the change stamps the incremental job reads. Per relationship type:
// schema/falkordb_relationship.
CREATE INDEX FOR (n:Entity) ON (n.id);
CREATE INDEX FOR (n:Entity) ON (n.created_at);
CREATE INDEX FOR (n:Entity) ON (n.updated_at);
CREATE INDEX FOR (r:KgpRun) ON (r.run_id);
CREATE INDEX FOR (s:KgpSchema) ON (s.name);
CREATE INDEX FOR (v:KgpReview) ON (v.run_id);
CREATE INDEX FOR (w:KgpWatermark) ON (w.name);
CREATE INDEX FOR (i:KgpIngest) ON (i.id);
CREATE INDEX FOR (t:KgpRelationType) ON (t.type);
CREATE INDEX FOR (l:KgpLabel) ON (l.label);
CREATE INDEX FOR (u:User) ON (u.id);
