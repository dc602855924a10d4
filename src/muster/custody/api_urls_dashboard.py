"""API routes under /api/v1/ (namespace "api"); included from muster/api_urls.py."""

from django.urls import path

from muster.custody import api_dashboard

urlpatterns: list = [
    path("units/<str:code>/dashboard", api_dashboard.UnitDashboardView.as_view(), name="unit-dashboard"),
    path("keys/", api_dashboard.KeyListView.as_view(), name="key-list"),
]
