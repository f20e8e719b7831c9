"""The task wrappers of the asynchronous jobs, one module per family."""
