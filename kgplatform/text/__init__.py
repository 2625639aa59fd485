"""Node text: sentence-transformers embeddings (cached), entity linking, and edges proposed from text."""
