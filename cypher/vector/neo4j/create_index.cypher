// The vector index over every entity's `embedding` (:Entity covers :Product, :Brand, ...), cosine similarity,
// named kgp_entity_embedding (the name the queries use). __DIM__ is the vectors' length, an integer 1..4096 that
// kgplatform/graph/vectors.py checks and splices in. IF NOT EXISTS keeps an existing index even when its dimension
// differs: vectors.py compares with index_info first. The index fills in the background (index_info: online).
CREATE VECTOR INDEX kgp_entity_embedding IF NOT EXISTS
FOR (n:Entity) ON n.embedding
OPTIONS {indexConfig: {`vector.dimensions`: __DIM__, `vector.similarity_function`: 'cosine'}}
