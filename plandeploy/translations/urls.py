"""Routes of the admin translations API (/admin/rest/translations/<lang>)."""

from django.urls import path

from plandeploy.translations.views import TranslationCatalogueView

urlpatterns = [
    path("<str:lang>", TranslationCatalogueView.as_view(), name="admin-translations"),
]
