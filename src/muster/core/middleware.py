"""Absolute session lifetime: however active, a session ends MUSTER_SESSION_MAX_HOURS after its login."""

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils import timezone


class AbsoluteSessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            started = request.session.get("muster_login_at")
            now = timezone.now().timestamp()
            if started is None:
                request.session["muster_login_at"] = now
            elif now - started > settings.MUSTER_SESSION_ABSOLUTE_SECONDS:
                logout(request)
                if not request.path.startswith("/api/"):
                    return redirect(f"{settings.LOGIN_URL_PATH}?next={request.path}")
        return self.get_response(request)
