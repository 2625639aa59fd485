// Node and asserted-relationship counts of the whole graph.
MATCH (n:Entity)
WITH count(n) AS nodes
OPTIONAL MATCH (:Entity)-[r]->(:Entity)
WHERE r.predicted IS NULL
RETURN nodes, count(r) AS asserted_relationships
