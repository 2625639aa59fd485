// The entity vector index, if there is one: its dimension, similarity function and whether it answers queries.
SHOW INDEXES YIELD name, type, state, options
WHERE name = 'kgp_entity_embedding' AND type = 'VECTOR'
RETURN options.indexConfig['vector.dimensions'] AS dimension,
       toLower(options.indexConfig['vector.similarity_function']) AS similarity, state = 'ONLINE' AS online
