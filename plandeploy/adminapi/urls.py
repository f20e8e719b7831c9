"""Routes of the admin REST API (/admin/rest/)."""

urlpatterns: list = []
