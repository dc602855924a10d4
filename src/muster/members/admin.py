"""Admin for reference data: units, members, accounts with their roles."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from muster.core.admin_changelog import ChangeLoggedAdmin, ChangeLoggedUserAdmin
from muster.core.errors import DomainError
from muster.members import credentials
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
    actions = ["end_sessions", "end_sessions_and_tokens"]

    def user_change_password(self, request, id, form_url=""):
        """The admin's page for setting another account's password saves it itself: in the same transaction, the
        account's sessions end and its API token goes, as with every password set (members.credentials)."""
        with transaction.atomic():
            account = Account.objects.filter(pk=id).first() if str(id).isdigit() else None
            before = account.password if account is not None else None
            response = super().user_change_password(request, id, form_url)
            if account is not None:
                account.refresh_from_db(fields=["password"])
                if account.password != before:
                    keep = request.session.session_key if account.pk == request.user.pk else None
                    credentials.after_password_set(account=account, actor=request.user, keep_session=keep)
        return response

    @admin.action(description="End the signed-in sessions of the selected accounts")
    def end_sessions(self, request, queryset, *, tokens: bool = False):
        ended = deleted = 0
        keep = request.session.session_key
        try:
            for account in queryset:
                sessions, token = credentials.end_sessions(
                    actor=request.user, account=account, keep_session=keep, tokens=tokens
                )
                ended, deleted = ended + sessions, deleted + token
        except DomainError as exc:
            self.message_user(request, f"{exc.detail} [{exc.code}]", messages.ERROR)
            return
        tokens_text = f"; {deleted} API token(s) deleted" if tokens else ""
        self.message_user(request, f"{ended} session(s) ended{tokens_text}.", messages.SUCCESS)

    @admin.action(description="End the sessions of the selected accounts and delete their API tokens")
    def end_sessions_and_tokens(self, request, queryset):
        return self.end_sessions(request, queryset, tokens=True)
