// Drop the entity vector index (before one of another dimension replaces it). The vectors stay on the nodes.
DROP INDEX kgp_entity_embedding IF EXISTS
