from django.contrib import admin
from django.shortcuts import redirect

from muster.core.models import AccountSession, AuditEvent, ChangeRecord, Notification, Webhook, WebhookDelivery


def _password_change(request, extra_context=None):
    """The admin's own-password page: Muster's, which asks the current password, keeps this session, ends the
    others and deletes the API token (core.views_account). Set before the admin builds its URLs."""
    return redirect("password-change")


admin.site.password_change = _password_change


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "description", "active", "events", "created_at"]
    list_filter = ["active"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "webhook", "status", "attempts", "last_error"]
    list_filter = ["status", "kind"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is evidence."""

    list_display = ["at", "kind", "username", "ip", "path", "detail"]
    list_filter = ["kind"]
    search_fields = ["username", "ip", "detail"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccountSession)
class AccountSessionAdmin(admin.ModelAdmin):
    """Who is signed in, from where. Read-only; end sessions from the account list's actions."""

    list_display = ["account", "started_at", "last_seen_at", "ip", "user_agent"]
    list_select_related = ["account"]
    search_fields = ["account__username", "ip"]
    exclude = ["session_key"]  # the key is a credential

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChangeRecord)
class ChangeRecordAdmin(AuditEventAdmin):
    """Read-only: the change log is evidence (and its triggers refuse edits anyway)."""

    list_display = ["at", "actor_name", "action", "object_type", "object_repr", "unit"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "object_repr", "object_id"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "recipient", "subject", "read_at"]
    list_filter = ["read_at"]
