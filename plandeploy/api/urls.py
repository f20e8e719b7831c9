"""Routes of the public REST API (/api/), with trailing slashes, as its clients expect."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from plandeploy.api.views import accounts, catalog, jobs, scratch_orgs

router = SimpleRouter()
router.register("categories", catalog.ProductCategoryViewSet, basename="productcategory")
router.register("products", catalog.ProductViewSet, basename="product")
router.register("versions", catalog.VersionViewSet, basename="version")
router.register("plans", catalog.PlanViewSet, basename="plan")
router.register("jobs", jobs.JobViewSet, basename="job")
router.register("orgs", accounts.OrgViewSet, basename="org")

urlpatterns = [
    path("user/", accounts.UserView.as_view(), name="user"),
    path("ui/bootstrap/", accounts.BootstrapView.as_view(), name="ui-bootstrap"),
    path("scratch-orgs/<str:org_id>/redirect/", scratch_orgs.scratch_org_redirect,
         name="scratch-org-redirect"),
    *router.urls,
]
