"""Per-unit custody policy pages. Included from muster.urls at "/"."""

from django.urls import path

from muster.custody import views_policy as views

urlpatterns = [
    path("units/custody-policy/", views.UnitPolicyIndexView.as_view(), name="unit-custody-policies"),
    path("units/<str:code>/custody-policy/", views.UnitPolicyView.as_view(), name="unit-custody-policy"),
]
