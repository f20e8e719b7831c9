"""Routes of the public REST API (/api/), with trailing slashes as the reference has them."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from plandeploy.api import views

router = SimpleRouter()
router.register("categories", views.ProductCategoryViewSet, basename="productcategory")
router.register("products", views.ProductViewSet, basename="product")
router.register("versions", views.VersionViewSet, basename="version")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("jobs", views.JobViewSet, basename="job")
router.register("orgs", views.OrgViewSet, basename="org")

urlpatterns = [
    path("user/", views.UserView.as_view(), name="user"),
    path("ui/bootstrap/", views.BootstrapView.as_view(), name="ui-bootstrap"),
    *router.urls,
]
