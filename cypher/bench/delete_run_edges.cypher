// Benchmark only (bench/storeio): remove the edges the benchmark's write-backs wrote (run ids 'bench-io-*'), in
// one pass over the relationships.
MATCH ()-[r]->()
WHERE r.run_id IN $run_ids
DELETE r
RETURN count(r) AS count
