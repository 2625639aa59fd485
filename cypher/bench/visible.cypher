// Benchmark only (bench/realtime): has the incremental job written the window holding these entities yet?
// done: the watermark has passed their stamps (it moves only after write-back); edges: their incremental edges.
MATCH (n:Entity)
WHERE n.id IN $ids
WITH max(n.updated_at) AS stamped, collect(n) AS nodes
OPTIONAL MATCH (w:KgpWatermark {name: $name})
WITH stamped, nodes, w.at >= stamped AS done
UNWIND nodes AS n
OPTIONAL MATCH (n)-[r]->(t:Entity)
WHERE r.method = 'incremental'
RETURN done, count(r) AS edges, collect([n.id, type(r), t.id]) AS written
