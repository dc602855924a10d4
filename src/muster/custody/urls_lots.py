"""Web routes; included from muster/urls.py."""

urlpatterns: list = []
