from django.contrib.auth import views as auth_views
from django.urls import path

from muster.core import views_account

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The signed-in account's own password and sessions (core.views_account).
    path("account/password/", views_account.PasswordChangeView.as_view(), name="password-change"),
    path("account/sessions/", views_account.SessionsView.as_view(), name="account-sessions"),
]
