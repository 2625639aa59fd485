"""kgplatform: completes product and entity knowledge graphs stored in Neo4j or an embedded FalkorDB."""

__version__ = "0.1.0"
