"""Notifications on the web: /notifications/ (the account's own, newest first, unread highlighted), "mark read" per
row (htmx swaps the row and the navbar badge) and "mark all read", and the navbar badge's unread count.

Every signed-in account sees only its own notifications; another account's id answers 404.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from muster.core import notify
from muster.core.models import Notification
from muster.core.views import is_htmx, nav_flags, page_lookup, paginate, query_without_page

NOTIFICATIONS_PER_PAGE = 25


def unread_notifications(request) -> dict:
    """Context processor: `unread_notifications`, the signed-in account's unread count for the navbar badge.

    Lazy: counted (one indexed COUNT) only when a template shows it, so partials and JSON never pay for it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: notify.unread_count(user))}


class NotificationsView(LoginRequiredMixin, View):
    template_name = "core/notifications.html"

    def get(self, request):
        unread_only = request.GET.get("unread") == "1"
        rows = Notification.objects.filter(recipient=request.user).order_by("-created_at", "-pk")
        if unread_only:
            rows = rows.filter(read_at=None)
        context = {
            "nav": nav_flags(request.user),
            "page_obj": paginate(request, rows, NOTIFICATIONS_PER_PAGE),
            "query": query_without_page(request),
            "unread_only": unread_only,
        }
        return render(request, self.template_name, context)


def _back(request):
    """Where a plain (non-htmx) form post returns: the list page it came from, or the list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(reverse("notifications"))


class NotificationReadView(LoginRequiredMixin, View):
    """POST: mark one of the caller's notifications read. htmx gets the row back (and the badge, out of band)."""

    def post(self, request, pk):
        with page_lookup():
            notification = notify.mark_read(account=request.user, notification_id=pk)
        if is_htmx(request):
            return render(request, "core/notifications_row.html", {"notification": notification, "oob_badge": True})
        return _back(request)


class NotificationsReadAllView(LoginRequiredMixin, View):
    """POST: mark all the caller's notifications read."""

    def post(self, request):
        count = notify.mark_all_read(account=request.user)
        messages.success(request, f"Marked {count} notification{'' if count == 1 else 's'} read.")
        return _back(request)
