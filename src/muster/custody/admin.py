"""Admin for custody reference data. Custody itself is not edited here: items enter the books only through
custody.services.register_item (which writes the ledger), holders change only through issue/return, and the
ledger is append-only, so the admin shows it read-only to everyone, superusers included."""

from django.contrib import admin

from muster.core.admin_changelog import ChangeLoggedAdmin
from muster.custody.models import Armory, Item, ItemType, LedgerEvent


@admin.register(ItemType)
class ItemTypeAdmin(ChangeLoggedAdmin):
    list_display = ["name", "category", "model", "calibre", "default_loan_hours", "requires"]
    list_filter = ["category", "required_qualifications"]
    search_fields = ["name", "model"]
    filter_horizontal = ["required_qualifications"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("required_qualifications")

    @admin.display(description="required qualifications")
    def requires(self, item_type: ItemType) -> str:
        return ", ".join(qualification.name for qualification in item_type.required_qualifications.all()) or "—"


@admin.register(Armory)
class ArmoryAdmin(ChangeLoggedAdmin):
    list_display = ["code", "name", "unit", "address"]
    search_fields = ["code", "name"]
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["serial_number", "item_type", "home_armory", "holder_kind", "holder_member", "due_at", "condition"]
    list_filter = ["item_type", "holder_kind", "condition", "home_armory"]
    search_fields = ["serial_number", "markings", "holder_member__member_no"]
    list_select_related = ["item_type", "home_armory", "holder_member", "holder_armory"]
    # What identifies the item and who holds it belong to the ledger; the admin may fix condition and notes.
    readonly_fields = [
        "item_type",
        "serial_number",
        "home_armory",
        "holder_kind",
        "holder_armory",
        "holder_member",
        "due_at",
        "custody_version",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEvent)
class LedgerEventAdmin(admin.ModelAdmin):
    list_display = ["seq", "recorded_at", "kind", "item", "from_kind", "to_kind", "actor", "short_hash"]
    list_filter = ["kind"]
    search_fields = ["item__serial_number", "reason", "hash"]
    list_select_related = ["item__item_type", "actor"]
    date_hierarchy = "recorded_at"

    @admin.display(description="hash")
    def short_hash(self, event: LedgerEvent) -> str:
        return event.hash[:12]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
