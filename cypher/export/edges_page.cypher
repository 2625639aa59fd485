// Relationships leaving one page of heads ($ids), of the chosen types ($rel_types, empty = all).
// Heads are looked up by id list, not by an id range: FalkorDB's index range scan ignores string upper bounds.
// Returns asserted and predicted edges; the exporter keeps asserted/accepted ones as facts.
UNWIND $ids AS id
MATCH (h:Entity {id: id})-[r]->(t:Entity)
WHERE size($rel_types) = 0 OR type(r) IN $rel_types
RETURN h.id AS head, type(r) AS rel, t.id AS tail, r.split AS split, r.predicted AS predicted, r.status AS status
