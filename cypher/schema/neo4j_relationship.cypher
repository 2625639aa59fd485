// Neo4j 5, one relationship type (a validated __REL_TYPE__): the change stamps the incremental job reads.
// Unnamed, so IF NOT EXISTS matches on the indexed type and property.
CREATE INDEX IF NOT EXISTS FOR ()-[r:__REL_TYPE__]-() ON (r.created_at);
CREATE INDEX IF NOT EXISTS FOR ()-[r:__REL_TYPE__]-() ON (r.updated_at);
