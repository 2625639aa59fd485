// The users to target for one product: those it is recommended to (best rank first), then, with
// $include_related, users whose behaviour touches another product of the same brand or category (most such
// products first). `reason` is 'recommended' or 'related'; `via` lists the shared brands/categories.
// `rank` is the user's best rank for the product over the runs present (`runs`); behaviour is any asserted
// relationship from the user except SAMPLED_NEGATIVE (evaluation negatives); recommendations are not behaviour.
// @param id: string -- the product's id, e.g. 'p:42'
// @param include_related: bool = false -- also users whose behaviour touches a product sharing its brand/category
// @param via: list = ["HAS_BRAND", "IN_CATEGORY"] -- the relationship types that link a product to its brand/category
// @param limit: int = 100 -- at most this many users
MATCH (p:Entity {id: $id})
OPTIONAL MATCH (u:User)-[r:RECOMMENDED]->(p)
WHERE r.predicted = true
WITH p, u, min(r.rank) AS best_rank, max(r.score) AS best_score, collect(DISTINCT r.run_id) AS runs
WITH p, [x IN collect({user: u.id, rank: best_rank, score: best_score, runs: runs}) WHERE x.user IS NOT NULL]
     AS recommended
OPTIONAL MATCH (p)-[s]->(shared:Entity)<-[s2]-(other:Entity)<-[b]-(v:User)
WHERE $include_related AND type(s) IN $via AND type(s2) = type(s) AND s.predicted IS NULL
  AND s2.predicted IS NULL AND b.predicted IS NULL AND type(b) <> 'SAMPLED_NEGATIVE' AND other <> p
WITH p, recommended, v, collect(DISTINCT shared.id) AS via_ids, count(DISTINCT other) AS products
WITH recommended, [x IN collect({user: v.id, products: products, via: via_ids}) WHERE x.user IS NOT NULL] AS related
WITH recommended, [x IN related WHERE NOT x.user IN [y IN recommended | y.user]] AS related
UNWIND [x IN recommended | {user: x.user, reason: 'recommended', rank: x.rank, score: x.score, runs: x.runs,
                            products: 0, via: []}]
       + [x IN related | {user: x.user, reason: 'related', rank: null, score: null, runs: [],
                         products: x.products, via: x.via}] AS a
RETURN a.user AS user, a.reason AS reason, a.rank AS rank, a.score AS score, a.runs AS runs,
       a.products AS related_products, a.via AS via
ORDER BY CASE reason WHEN 'recommended' THEN 0 ELSE 1 END, rank, related_products DESC, user
LIMIT $limit
