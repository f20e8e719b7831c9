"""The admin REST API under /admin/rest/."""
