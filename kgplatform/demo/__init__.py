"""The demo: a generated catalogue loaded into the embedded store, completed end to end, then recommended from."""
