"""The asynchronous jobs named by the seed, one module per family."""
