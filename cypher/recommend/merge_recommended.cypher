// Write one run's recommendations for a batch of whole users; MERGE on (user, item, run_id) makes a re-run change
// nothing. Behaviour and every asserted relationship (no run_id, no RECOMMENDED type) never match the pattern.
// `predicted: true` keeps the rule "asserted = predicted IS NULL"; a recommendation has no review status.
// A row whose user or item is not in the graph matches nothing and is not written (the count tells).
// $rows: [{user, item, rank, score, run_id, model, method, evidence}] (domain ids)
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (i:Entity {id: row.item})
MERGE (u)-[r:RECOMMENDED {run_id: row.run_id}]->(i)
ON CREATE SET r.created_at = timestamp()
SET r.predicted = true, r.rank = row.rank, r.score = row.score, r.model = row.model, r.method = row.method,
    r.evidence = row.evidence
RETURN count(r) AS count
