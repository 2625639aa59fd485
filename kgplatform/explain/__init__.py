"""Evidence for predicted edges: paths and mined rules in the graph, similar nodes, and text mentions."""
