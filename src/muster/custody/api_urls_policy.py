"""Per-unit custody policy in the API. Included from muster.api_urls at "v1/" (namespace "api")."""

from django.urls import path

from muster.custody import api_policy

urlpatterns = [
    path("units/<str:code>/custody-policy", api_policy.UnitPolicyView.as_view(), name="unit-custody-policy"),
]
