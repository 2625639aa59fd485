// The vector index over every entity's `embedding` (:Entity covers :Product, :Brand, ...), cosine similarity.
// __DIM__ is the vectors' length, an integer 1..4096 that kgplatform/graph/vectors.py checks and splices in.
// FalkorDB refuses a second index on the same property ("already indexed"): vectors.py reads index_info first.
// dialect: falkordb
CREATE VECTOR INDEX FOR (n:Entity) ON (n.embedding) OPTIONS {dimension: __DIM__, similarityFunction: 'cosine'}
