// How many entities carry an embedding (the most a vector query can return).
MATCH (n:Entity)
WHERE n.embedding IS NOT NULL
RETURN count(n) AS count
