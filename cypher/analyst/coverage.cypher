// Coverage per relationship type: how many nodes of a label lack an edge of the type, before and after a run.
// Before = asserted edges only; after = asserted edges plus the run's predictions that were not rejected.
// @param run_id: string = null -- the run whose predictions count as "after" (null: after = before)
// @param label: string = 'Product' -- the nodes counted, by label
// @param rel_types: list = [] -- the relationship types (empty: the types the run predicted)
OPTIONAL MATCH (:Entity)-[p]->(:Entity)
WHERE size($rel_types) = 0 AND p.predicted = true AND p.run_id = $run_id
WITH CASE WHEN size($rel_types) > 0 THEN $rel_types ELSE collect(DISTINCT type(p)) END AS rel_types
UNWIND rel_types AS rel_type
MATCH (n:Entity)
WHERE $label IN labels(n)
OPTIONAL MATCH (n)-[r]->(:Entity)
WHERE type(r) = rel_type AND (r.predicted IS NULL OR (r.run_id = $run_id AND r.status <> 'rejected'))
WITH rel_type, n, count(CASE WHEN r.predicted IS NULL THEN r END) AS asserted, count(r) AS known
WITH rel_type, count(n) AS nodes, count(CASE WHEN asserted = 0 THEN n END) AS lacking_before,
     count(CASE WHEN known = 0 THEN n END) AS lacking_after
RETURN rel_type, nodes, lacking_before, lacking_after, lacking_before - lacking_after AS filled_by_run,
       1.0 - toFloat(lacking_before) / nodes AS coverage_before,
       1.0 - toFloat(lacking_after) / nodes AS coverage_after
ORDER BY rel_type
