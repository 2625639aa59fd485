// The entity vector index, if there is one: its dimension, similarity function and whether it answers queries.
// dialect: falkordb
CALL db.indexes() YIELD label, types, options, status
WHERE label = 'Entity' AND 'VECTOR' IN types.embedding
RETURN options.embedding.dimension AS dimension, options.embedding.similarityFunction AS similarity,
       status = 'OPERATIONAL' AS online
