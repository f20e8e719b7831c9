"""URL map: the pages, the public API, the admin API and site, sign-in, schema and its
reference page, health and metrics."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

from plandeploy.api.errors import json_not_found
from plandeploy.health import healthz, readyz
from plandeploy.metrics import metrics
from plandeploy.security.ratelimits import rate_limited
from plandeploy.web.views import salesforce

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script for a CSP to allow.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("plandeploy.api.urls")),
    path("admin/rest/translations/", include("plandeploy.translations.urls")),
    path("admin/rest/", include("plandeploy.adminapi.urls")),
    # Before the admin site, whose catch-all would answer an unknown API path with a redirect.
    re_path(r"^admin/rest/", json_not_found),
    path("admin/", admin.site.urls),
    path("accounts/login/",
         rate_limited("sign_in", user_field="username")(auth_views.LoginView.as_view()),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/salesforce/login/", salesforce.start, name="salesforce_login"),
    # The connected app's callback URL (SFDX_CLIENT_CALLBACK_URL) points here.
    path("accounts/salesforce/login/callback/", salesforce.callback,
         name="salesforce_callback"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("plandeploy.web.urls")),
]

handler404 = "plandeploy.api.errors.page_not_found"
handler500 = "plandeploy.api.errors.server_error"
