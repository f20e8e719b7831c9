"""Routes of the admin translations API (/admin/rest/translations/<lang>)."""

urlpatterns: list = []
