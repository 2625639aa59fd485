// Declare behaviour relationship types ((:User)-[:TYPE]->(:Entity): PURCHASED, VIEWED, ..., and SAMPLED_NEGATIVE)
// in the graph's behaviour schema node; statements that splice a behaviour type in accept only declared ones.
// $types: list of relationship types. Adds to what is declared already.
MERGE (s:KgpSchema {name: 'behaviour'})
WITH s, coalesce(s.types, []) AS old_types
SET s.types = old_types + [t IN $types WHERE NOT t IN old_types]
RETURN s.types AS types
