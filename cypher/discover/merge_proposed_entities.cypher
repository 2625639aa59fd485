// Entities proposed by a discovery run (text/ner.py): new nodes of one label (__LABEL__, validated), named in
// product text but absent from the graph. MERGE on id: a re-run changes nothing, and a node that already exists
// (asserted, or accepted by a reviewer) keeps its properties. Export skips nodes still proposed.
// $rows: [{id, name, type, confidence, mentions, evidence, run_id, model}]
UNWIND $rows AS row
MERGE (n:Entity {id: row.id})
ON CREATE SET n.name = row.name, n.type = row.type, n.proposed = true, n.status = 'proposed',
              n.run_id = row.run_id, n.model = row.model, n.confidence = row.confidence, n.mentions = row.mentions,
              n.evidence = row.evidence, n.created_at = timestamp(), n.updated_at = timestamp()
SET n:__LABEL__
RETURN count(n) AS count
