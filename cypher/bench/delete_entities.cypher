// Benchmark only (bench/realtime): remove the products a trial inserted, with their relationships, so the next
// trial can insert them again as new. Never used on a graph that holds real data.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
DETACH DELETE n
RETURN count(*) AS count
