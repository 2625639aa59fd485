"""Ingest: dataset folders and product catalogues parsed and validated in full, then loaded into the store."""
