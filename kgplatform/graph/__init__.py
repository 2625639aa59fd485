"""The graph store: its port and backends, Cypher files and names, schema, export, write-back, run records."""
