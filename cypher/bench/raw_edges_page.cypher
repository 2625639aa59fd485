// Benchmark only (bench/storeio): the raw-client baseline of export, the relationships leaving a page of heads.
UNWIND $ids AS id
MATCH (h:Entity {id: id})-[r]->(t:Entity)
RETURN h.id AS head, type(r) AS rel, t.id AS tail
