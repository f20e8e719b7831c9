"""Routes of the public REST API (/api/)."""

urlpatterns: list = []
