from django.contrib import admin

from muster.core.models import AuditEvent, ChangeRecord, Notification, Webhook, WebhookDelivery


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
