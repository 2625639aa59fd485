// The evidence behind one predicted edge: short paths (1 to 3 hops, any direction) between its head and tail
// that use asserted relationships only, so neither the predicted edge itself nor any other prediction counts,
// and pass through entities only (never a person: behaviour is not evidence for a catalogue fact).
// Example: a co-purchased product that has the predicted brand,
//   p:2 <-[BOUGHT_TOGETHER]- p:1 -[HAS_BRAND]-> b:1
// `graph` is the path itself, drawn by Neo4j Browser.
// @param head: string -- the predicted edge's head id
// @param rel_type: string -- its relationship type, e.g. 'HAS_BRAND'
// @param tail: string -- its tail id
// @param run_id: string = null -- the run that predicted it (null: any run)
// @param limit: int = 10 -- at most this many paths, shortest first
MATCH (h:Entity {id: $head})-[r]->(t:Entity {id: $tail})
WHERE type(r) = $rel_type AND r.predicted = true AND ($run_id IS NULL OR r.run_id = $run_id)
WITH DISTINCT h, t
MATCH p = (h)-[*1..3]-(t)
WHERE all(x IN relationships(p) WHERE x.predicted IS NULL) AND all(n IN nodes(p) WHERE 'Entity' IN labels(n))
WITH p, nodes(p) AS ns, relationships(p) AS rs
RETURN length(p) AS hops,
       reduce(s = ns[0].id, i IN range(0, size(rs) - 1) |
              s + CASE WHEN startNode(rs[i]) = ns[i] THEN ' -[' + type(rs[i]) + ']-> '
                       ELSE ' <-[' + type(rs[i]) + ']- ' END + ns[i + 1].id) AS path,
       [n IN ns | n.name] AS names,
       p AS graph
ORDER BY hops, path
LIMIT $limit
