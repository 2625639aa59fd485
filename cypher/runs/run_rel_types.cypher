// The relationship types a run wrote (to retract type by type with indexed, typed statements).
MATCH ()-[r]->()
WHERE r.run_id = $run_id AND r.predicted = true
RETURN DISTINCT type(r) AS rel_type
