"""Routes of the admin REST API (/admin/rest/), without trailing slashes, as its clients expect."""

from rest_framework.routers import SimpleRouter

from plandeploy.adminapi import views

app_name = "adminapi"

router = SimpleRouter(trailing_slash=False)
router.register("products", views.ProductViewSet, basename="product")
router.register("productslug", views.ProductSlugViewSet, basename="productslug")
router.register("productcategory", views.ProductCategoryViewSet, basename="productcategory")
router.register("versions", views.VersionViewSet, basename="version")
router.register("plantemplates", views.PlanTemplateViewSet, basename="plantemplate")
router.register("planslug", views.PlanSlugViewSet, basename="planslug")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("allowedlists", views.AllowedListViewSet, basename="allowedlist")
router.register("allowedlistorgs", views.AllowedListOrgViewSet, basename="allowedlistorg")

urlpatterns = router.urls
