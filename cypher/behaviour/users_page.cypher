// One page of people in id order (keyset paging: pass the last id seen as $after, '' for the first page).
MATCH (u:User)
WHERE u.id > $after
RETURN u.id AS id
ORDER BY id
LIMIT $page_size
