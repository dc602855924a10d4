"""Web routes; included from muster/urls.py. Two-factor sign-in (core.views_otp)."""

from django.urls import path

from muster.core import views_otp

urlpatterns = [
    path("login/code/", views_otp.VerifyView.as_view(), name="otp-verify"),
    path("two-factor/set-up/", views_otp.EnrolView.as_view(), name="otp-enrol"),
    path("accounts/<str:username>/two-factor/", views_otp.ResetView.as_view(), name="otp-reset"),
]
