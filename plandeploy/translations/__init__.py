"""The Translation catalogue and how it is applied to translatable objects."""
