"""The admin writes to the change log too: a mixin for the ModelAdmins of change-logged records.

The admin is the one face that edits records without a service (units' names, courses, qualifications, accounts'
flags). Django runs each admin save or delete in one transaction, and these hooks run inside it, so the record
commits or rolls back with the change, as a service's does.

    @admin.register(Course)
    class CourseAdmin(ChangeLoggedAdmin): ...

    @admin.register(Account)
    class AccountAdmin(ChangeLoggedUserAdmin): ...   # also logs the admin's password-change page
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction

from muster.core import changelog


def _stored(model, pks) -> dict:
    """Fresh copies from the database: a bound admin form has already written its input onto its instance."""
    return model._default_manager.in_bulk([pk for pk in pks if pk is not None])


class ChangeLoggedAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        if change:
            stored = _stored(type(obj), [obj.pk]).get(obj.pk)
            obj._changelog_before = changelog.snapshot(stored) if stored is not None else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Logged here, not in save_model: many-to-many fields (a course's grants) are saved by now.
        obj = form.instance
        before = getattr(obj, "_changelog_before", None)
        action = changelog.UPDATE if change and before is not None else changelog.CREATE
        changelog.record(actor=request.user, obj=obj, action=action, before=before)

    def save_formset(self, request, form, formset, change):
        model = formset.model
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                changelog.record(actor=request.user, obj=deleted.instance, action=changelog.DELETE)
        existing = [inline.instance.pk for inline in formset.initial_forms if inline not in formset.deleted_forms]
        befores = {pk: changelog.snapshot(stored) for pk, stored in _stored(model, existing).items()}
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            changelog.record(actor=request.user, obj=obj, action=changelog.CREATE)
        for obj, _fields in formset.changed_objects:
            changelog.record(actor=request.user, obj=obj, action=changelog.UPDATE, before=befores[obj.pk])

    def delete_model(self, request, obj):
        changelog.record(actor=request.user, obj=obj, action=changelog.DELETE)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            changelog.record(actor=request.user, obj=obj, action=changelog.DELETE)
        super().delete_queryset(request, queryset)


class ChangeLoggedUserAdmin(ChangeLoggedAdmin, UserAdmin):
    """UserAdmin's password page saves its form itself, past save_model: log it from around the view."""

    def user_change_password(self, request, id, form_url=""):
        try:
            pk = self.model._meta.pk.to_python(id)
        except ValidationError:
            return super().user_change_password(request, id, form_url)  # answers "not found" itself
        with transaction.atomic():
            stored = _stored(self.model, [pk]).get(pk)
            before = changelog.snapshot(stored, ["password"]) if stored is not None else None
            response = super().user_change_password(request, id, form_url)
            if before is not None:  # nothing written, nothing logged: a refused form or an unknown account
                stored.refresh_from_db(fields=["password"])
                changelog.record(actor=request.user, obj=stored, action=changelog.UPDATE, before=before)
        return response
