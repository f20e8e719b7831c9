"""Routes of the pages: / and /products/<product>/<version>/<plan>/jobs/<job>/ and around."""

from django.urls import path

from plandeploy.web.views import account, catalog, jobs, plans

app_name = "web"

_PLAN = "products/<slug:product>/<str:version>/<slug:plan>/"

urlpatterns = [
    path("", catalog.home, name="home"),
    path("my-installations/", jobs.my_installations, name="my_installations"),
    path("org/connect/", account.connect_org, name="connect_org"),
    path("products/<slug:product>/", catalog.product, name="product"),
    path("products/<slug:product>/<str:version>/", catalog.product, name="version"),
    path(_PLAN, plans.plan_page, name="plan"),
    path(_PLAN + "preflight/", plans.preflight, name="preflight"),
    path(_PLAN + "install/", plans.install, name="install"),
    path(_PLAN + "scratch-org/", plans.scratch_org, name="scratch_org"),
    path(_PLAN + "jobs/<str:job>/", jobs.job_page, name="job"),
    path(_PLAN + "jobs/<str:job>/cancel/", jobs.cancel, name="job_cancel"),
    path(_PLAN + "jobs/<str:job>/share/", jobs.share, name="job_share"),
]

