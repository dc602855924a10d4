"""API routes under /api/v1/ (namespace "api"); included from muster/api_urls.py."""

from rest_framework.routers import SimpleRouter

from muster.core.api_changelog import ChangeRecordViewSet

# SimpleRouter: no second API root view beside the main router's.
router = SimpleRouter()
router.register("changes", ChangeRecordViewSet, basename="change")

urlpatterns: list = router.urls
