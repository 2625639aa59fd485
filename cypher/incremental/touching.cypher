// Every relationship between entities that touches one of $ids, in either direction: one hop of the k-hop
// neighbourhood the incremental job encodes. Asserted and predicted ones (the job excludes predicted ones
// from its candidates, except those of its own run, so a redone window proposes the same edges again).
UNWIND $ids AS id
MATCH (n:Entity {id: id})-[r]-(:Entity)
RETURN startNode(r).id AS head, type(r) AS rel, endNode(r).id AS tail, r.predicted AS predicted,
       r.status AS status, r.run_id AS run_id
