from .load import declared_schema, ingest_path, load_graph, parse_source

__all__ = ["declared_schema", "ingest_path", "load_graph", "parse_source"]
