// Products like the ones a person touched last. Their $last latest items (behaviour relationships by timestamp;
// RECOMMENDED and SAMPLED_NEGATIVE are not behaviour) each bring their $candidates nearest entities; kept are
// entities with $label the person has no behaviour with. score: the mean cosine similarity over those latest
// items (an item the product is not among the nearest of adds 0), so a product near several of them ranks first;
// near: which of them it is near.
// @param user: string -- the person's id
// @param k: int = 10 -- at most this many rows, best first
// @param last: int = 5 -- how many of the latest items to start from
// @param label: string = 'Product' -- only entities with this label (null: any label)
// @param candidates: int = 100 -- how many nearest entities the index returns per item
MATCH (:User {id: $user})-[r]->(i:Entity)
WHERE NOT type(r) IN ['RECOMMENDED', 'SAMPLED_NEGATIVE']
WITH i, max(coalesce(r.timestamp, 0)) AS at
ORDER BY at DESC, i.id
WITH collect(i) AS items
WITH [x IN items | x.id] AS owned, [x IN items[0..$last] WHERE x.embedding IS NOT NULL] AS recent
UNWIND recent AS i
CALL db.index.vector.queryNodes('kgp_entity_embedding', $candidates, i.embedding) YIELD node, score
WITH owned, size(recent) AS recent_count, i, node, 2 * score - 1 AS similarity
WHERE NOT node.id IN owned AND ($label IS NULL OR $label IN labels(node))
WITH node, recent_count, sum(similarity) AS total, collect(i.id) AS near
RETURN node.id AS id, node.name AS name, total / recent_count AS score, near
ORDER BY score DESC, id
LIMIT $k
