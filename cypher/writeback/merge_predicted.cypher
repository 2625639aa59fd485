// Write one run's predicted relationships of one type; MERGE on run_id makes a re-run change nothing.
// Asserted relationships (no run_id) never match the MERGE pattern, so they are never touched.
// $rows: [{head, tail, score, probability, run_id, model, method, evidence, base_run}]; base_run: the full run
// whose model an incremental run scored with (null otherwise).
UNWIND $rows AS row
MATCH (h:Entity {id: row.head})
MATCH (t:Entity {id: row.tail})
MERGE (h)-[r:__REL_TYPE__ {run_id: row.run_id}]->(t)
ON CREATE SET r.created_at = timestamp(), r.status = 'proposed'
SET r.predicted = true, r.score = row.score, r.probability = row.probability, r.model = row.model,
    r.method = row.method, r.evidence = row.evidence, r.base_run = row.base_run
RETURN count(r) AS count
