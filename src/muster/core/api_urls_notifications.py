"""API routes under /api/v1/ (namespace "api"); included from muster/api_urls.py."""

from django.urls import path

from muster.core.api_notifications import NotificationListView, NotificationReadView, NotificationsReadAllView

# The id is read by the view: a non-number answers 404 in JSON, like an unknown id (core.api_input.ID_PARAMETER).
urlpatterns: list = [
    path("notifications/", NotificationListView.as_view(), name="notification-list"),
    path("notifications/read-all", NotificationsReadAllView.as_view(), name="notifications-read-all"),
    path("notifications/<str:pk>/read", NotificationReadView.as_view(), name="notification-read"),
]
