// The behaviour of one type (__REL_TYPE__, a declared behaviour type) of one page of people ($ids), with what the
// recommender reads. One type per statement: a typed traversal never visits people's other relationships
// (recommendations, other behaviour). Read-only.
UNWIND $ids AS id
MATCH (:User {id: id})-[r:__REL_TYPE__]->(t:Entity)
RETURN id AS user, t.id AS item, r.timestamp AS timestamp, r.weight AS weight, r.split AS split
