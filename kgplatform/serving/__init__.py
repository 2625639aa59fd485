"""Serving recommendations: the HTTP API, its model, and the item index it retrieves from."""
