"""Web routes; included from muster/urls.py."""

from django.urls import path

from muster.custody import views_dashboard, views_keys

urlpatterns: list = [
    path("dashboard/", views_dashboard.MyDashboardView.as_view(), name="my-dashboard"),
    path("units/<str:code>/dashboard/", views_dashboard.UnitDashboardView.as_view(), name="unit-dashboard"),
    path("units/<str:code>/keys/", views_keys.UnitKeysView.as_view(), name="unit-keys"),
]
