"""Incremental scoring: new and changed nodes get predicted links from the newest trained run, without retraining."""
