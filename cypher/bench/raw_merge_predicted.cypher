// Benchmark only (bench/storeio): the raw-client baseline of write-back, a bare UNWIND ... MERGE of one type's
// scored relationships with the properties write-back gives them.
// $rows: [{head, tail, run_id, score, probability, model, method, evidence}].
UNWIND $rows AS row
MATCH (h:Entity {id: row.head})
MATCH (t:Entity {id: row.tail})
MERGE (h)-[r:__REL_TYPE__ {run_id: row.run_id}]->(t)
SET r.predicted = true, r.status = 'proposed', r.created_at = timestamp(), r.score = row.score,
    r.probability = row.probability, r.model = row.model, r.method = row.method, r.evidence = row.evidence
