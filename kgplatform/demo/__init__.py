"""The demo: a generated product catalogue loaded into the embedded store, completed end to end."""
