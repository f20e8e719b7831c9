"""plandeploy's URL map with the benchmark's reference row: a Django view returning a small
JSON object without touching the database, behind the same middleware and server."""

from django.http import JsonResponse
from django.urls import path

from plandeploy import urls


def bare(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/bare", bare), *urls.urlpatterns]
handler404 = urls.handler404
handler500 = urls.handler500
