"""The public REST API under /api/."""
