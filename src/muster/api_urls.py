"""/api/: the OpenAPI schema and its Swagger UI, the token endpoint, and version 1 of the REST API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from muster.core.api import ObtainTokenView
from muster.custody import api as custody_api
from muster.members import api as members_api

# Namespaced, so route names such as "item-detail" never collide with the web pages' names.
app_name = "api"

router = DefaultRouter()
router.register("units", members_api.UnitViewSet, basename="unit")
router.register("members", members_api.MemberViewSet, basename="member")
router.register("item-types", custody_api.ItemTypeViewSet, basename="itemtype")
router.register("armories", custody_api.ArmoryViewSet, basename="armory")
router.register("items", custody_api.ItemViewSet, basename="item")
router.register("ledger", custody_api.LedgerViewSet, basename="ledger")

# The schema and docs describe every endpoint to any signed-in account (SERVE_PUBLIC), but not to strangers.
_signed_in = {"permission_classes": [IsAuthenticated]}

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(**_signed_in), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **_signed_in), name="docs"),
    path("v1/auth/token", ObtainTokenView.as_view(), name="token"),
    path("v1/custody/issue", custody_api.IssueView.as_view(), name="custody-issue"),
    path("v1/custody/return", custody_api.ReturnView.as_view(), name="custody-return"),
    path("v1/", include(router.urls)),
]
