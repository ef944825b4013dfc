"""Finding good settings: the learning-rate range test, the batch-size finder, and hyperparameter search."""
