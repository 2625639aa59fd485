// FalkorDB, one relationship type (a validated __REL_TYPE__): the change stamps the incremental job reads.
CREATE INDEX FOR ()-[r:__REL_TYPE__]-() ON (r.created_at);
CREATE INDEX FOR ()-[r:__REL_TYPE__]-() ON (r.updated_at);
