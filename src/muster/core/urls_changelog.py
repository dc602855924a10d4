"""Web routes; included from muster/urls.py."""

from django.urls import path

from muster.core.views_changelog import ChangesView

urlpatterns: list = [
    path("changes/", ChangesView.as_view(), name="changes"),
]
