// Replacement without a gap: once a batch of users has this run's recommendations, delete their recommendations
// of every other run. A user loses the others only when it holds at least one of this run's, so nobody is ever
// left with none. Only RECOMMENDED relationships with predicted = true match: never behaviour, never a fact.
// $users: the batch's user ids; $run_id: the run that replaces the others.
UNWIND $users AS uid
MATCH (u:User {id: uid})-[n:RECOMMENDED]->(:Entity)
WHERE n.run_id = $run_id AND n.predicted = true
WITH DISTINCT u
MATCH (u)-[r:RECOMMENDED]->(:Entity)
WHERE r.predicted = true AND r.run_id <> $run_id
DELETE r
RETURN count(*) AS count
