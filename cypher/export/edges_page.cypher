// Relationships leaving one page of heads ($ids), of the chosen types ($rel_types, empty = all), one row per
// (type, state) with the heads and tails as two parallel lists: two values per edge instead of a row of four,
// since reading the reply is most of an export's time.
// state: an asserted edge's split (null when unsplit); a predicted edge's review status behind 'predicted:'
// ('predicted:accepted', ...). The exporter keeps asserted and accepted edges as facts.
// Heads are looked up by id list, not by an id range: FalkorDB's index range scan ignores string upper bounds.
UNWIND $ids AS id
MATCH (h:Entity {id: id})-[r]->(t:Entity)
WHERE size($rel_types) = 0 OR type(r) IN $rel_types
WITH type(r) AS rel, CASE WHEN r.predicted THEN 'predicted:' + coalesce(r.status, '') ELSE r.split END AS state,
     h.id AS head, t.id AS tail
RETURN rel, state, collect(head) AS heads, collect(tail) AS tails
