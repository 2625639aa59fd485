// Benchmark only (bench/storeio): remove the edges one benchmark write-back wrote (run ids 'bench-io-*').
MATCH ()-[r]->()
WHERE r.run_id = $run_id
DELETE r
RETURN count(r) AS count
