"""The user-item-entity recommender as pure tensors: its data, model, training, ranking and metrics."""
