"""API routes under /api/v1/ (namespace "api"); included from muster/api_urls.py."""

urlpatterns: list = []
