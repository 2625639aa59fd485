// Entities created after $since (ms): the drift guard's count of nodes the model has not been trained on.
MATCH (n:Entity)
WHERE n.created_at > $since
RETURN count(n) AS count
