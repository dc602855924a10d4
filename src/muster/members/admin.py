"""Admin for reference data: units, members, accounts with their roles."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from muster.core.admin_changelog import ChangeLoggedAdmin, ChangeLoggedUserAdmin
from muster.members.models import Account, Member, RoleAssignment, Unit


@admin.register(Unit)
class UnitAdmin(ChangeLoggedAdmin):
    list_display = ["code", "name", "kind", "parent"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]


@admin.register(Member)
class MemberAdmin(ChangeLoggedAdmin):
    list_display = ["member_no", "last_name", "first_name", "unit", "status", "vetting_valid_until", "is_veteran"]
    list_filter = ["status", "is_veteran", "unit"]
    search_fields = ["member_no", "first_name", "last_name", "phone", "email"]
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]
    readonly_fields = ["created_at"]


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    autocomplete_fields = ["unit"]
    readonly_fields = ["granted_at"]


@admin.register(Account)
class AccountAdmin(ChangeLoggedUserAdmin):
    list_display = ["username", "member", "first_name", "last_name", "is_active", "is_staff", "is_superuser"]
    list_select_related = ["member"]
    search_fields = ["username", "first_name", "last_name", "email", "member__member_no"]
    autocomplete_fields = ["member"]
    inlines = [RoleAssignmentInline]
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Muster", {"fields": ("member",)}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Muster", {"fields": ("member",)}),
    )
