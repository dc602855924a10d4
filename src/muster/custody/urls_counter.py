"""Web routes of the counter (views_counter); included from muster/urls.py."""

from django.urls import path

from muster.custody import views_counter

urlpatterns = [
    path("custody/counter/", views_counter.CounterView.as_view(), name="counter"),
    path("custody/counter/scan/", views_counter.CounterScanView.as_view(), name="counter-scan"),
    path("custody/counter/pin/", views_counter.CounterPinView.as_view(), name="counter-pin"),
]
