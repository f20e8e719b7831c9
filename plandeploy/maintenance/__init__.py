"""The scheduled maintenance rules: set-based SQL in batches, one module per job."""
