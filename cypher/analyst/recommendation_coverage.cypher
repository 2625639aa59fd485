// Recommendation coverage per run: users with recommendations (and their share of all users), distinct items
// recommended, and the share of the catalogue (Product nodes) that the run recommends to someone.
// @param run_id: string = null -- only this run (null: every run that has recommendations in the graph)
MATCH (p:Product)
WITH count(p) AS catalogue
OPTIONAL MATCH (x:User)
WITH catalogue, count(x) AS all_users
MATCH (u:User)-[r:RECOMMENDED]->(i:Entity)
WHERE r.predicted = true AND ($run_id IS NULL OR r.run_id = $run_id)
WITH catalogue, all_users, r.run_id AS run_id, count(DISTINCT u) AS users, count(DISTINCT i) AS items,
     count(r) AS recommendations, min(r.created_at) AS created_at, max(r.model) AS model
RETURN run_id, model, created_at, users, all_users,
       CASE WHEN all_users = 0 THEN null ELSE toFloat(users) / all_users END AS user_share, items, catalogue,
       CASE WHEN catalogue = 0 THEN null ELSE toFloat(items) / catalogue END AS catalogue_share, recommendations,
       toFloat(recommendations) / users AS per_user
ORDER BY created_at DESC, run_id
