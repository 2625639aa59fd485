// Declare labels and relationship types in the graph's schema node; later statements only accept declared names.
// $labels: list of node labels; $rel_types: list of relationship types. Adds to what is declared already.
MERGE (s:KgpSchema {name: 'default'})
WITH s, coalesce(s.labels, []) AS old_labels, coalesce(s.rel_types, []) AS old_types
SET s.labels = old_labels + [l IN $labels WHERE NOT l IN old_labels],
    s.rel_types = old_types + [t IN $rel_types WHERE NOT t IN old_types]
RETURN s.labels AS labels, s.rel_types AS rel_types
