"""Web routes for notifications; included from muster/urls.py."""

from django.urls import path

from muster.core.views_notifications import NotificationReadView, NotificationsReadAllView, NotificationsView

urlpatterns: list = [
    path("notifications/", NotificationsView.as_view(), name="notifications"),
    path("notifications/read-all/", NotificationsReadAllView.as_view(), name="notifications-read-all"),
    path("notifications/<int:pk>/read/", NotificationReadView.as_view(), name="notification-read"),
]
