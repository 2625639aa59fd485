// Drop the entity vector index (before one of another dimension replaces it). The vectors stay on the nodes.
// dialect: falkordb
DROP VECTOR INDEX FOR (n:Entity) ON (n.embedding)
