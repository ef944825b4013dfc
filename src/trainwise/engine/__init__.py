"""The training engine: the fit loop, batches, optimizers, metrics, callbacks and checkpoints."""
