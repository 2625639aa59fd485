"""Human review of predicted edges: accept/reject actions, analyst statements, and the review page (API + web/)."""
