"""The admin's edits reach the change log through core.admin_changelog.ChangeLoggedAdmin.

The mixin is tried on an admin site of its own (served beside the real URLs), so these tests hold whichever admin
classes the apps register; the last test checks that the apps' admins of logged records use it.
"""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import include, path

from muster.core import changelog
from muster.core.admin_changelog import ChangeLoggedAdmin, ChangeLoggedUserAdmin
from muster.core.models import ChangeRecord
from muster.core.testing import make_unit
from muster.members.models import Account, RoleAssignment, Unit
from muster.training.models import Course, Qualification
from muster.training.testing import make_course, make_qualification

site = admin.AdminSite(name="logged_admin")


class RoleInline(admin.TabularInline):
    model = RoleAssignment
    fields = ["account", "role"]
    extra = 0


@admin.register(Unit, site=site)
class UnitAdmin(ChangeLoggedAdmin):
    fields = ["code", "name", "kind", "parent"]
    inlines = [RoleInline]


@admin.register(Course, site=site)
class CourseAdmin(ChangeLoggedAdmin):
    fields = ["code", "name", "description", "grants", "validity_days"]


@admin.register(Qualification, site=site)
class QualificationAdmin(ChangeLoggedAdmin):
    pass


@admin.register(Account, site=site)
class AccountAdmin(ChangeLoggedUserAdmin):
    pass


urlpatterns = [path("logged-admin/", site.urls), path("", include("muster.urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def root(client):
    account = Account.objects.create_superuser(username="root", password=None)
    client.force_login(account)
    return account


def inline_management(prefix: str, *, total: int, initial: int) -> dict:
    return {f"{prefix}-TOTAL_FORMS": total, f"{prefix}-INITIAL_FORMS": initial, f"{prefix}-MIN_NUM_FORMS": 0,
            f"{prefix}-MAX_NUM_FORMS": 1000}  # fmt: skip


def test_an_admin_create_logs_the_fields_and_the_many_to_many_grants(client, root):
    rifle = make_qualification("rifle")
    response = client.post(
        "/logged-admin/training/course/add/", {"code": "basic", "name": "Basic", "grants": [rifle.pk]}
    )
    assert response.status_code == 302, response.content
    [created] = ChangeRecord.objects.filter(object_type="training.course")
    assert created.action == changelog.CREATE and created.actor == root and created.unit is None
    assert created.changes["grants"] == [None, [rifle.pk]]
    assert created.changes["code"] == [None, "basic"]


def test_an_admin_edit_logs_the_diff_and_its_inline_rows(client, root, world):
    unit = make_unit("C", parent=world.region, name="Company C")
    prefix = "role_assignments"
    form = {"code": "C", "name": "Charlie company", "kind": unit.kind, "parent": world.region.pk,
            **inline_management(prefix, total=1, initial=0),
            f"{prefix}-0-account": world.frank.pk, f"{prefix}-0-role": "auditor"}  # fmt: skip
    response = client.post(f"/logged-admin/members/unit/{unit.pk}/change/", form)
    assert response.status_code == 302, response.content
    [edit] = ChangeRecord.objects.filter(object_type="members.unit")
    assert edit.changes == {"name": ["Company C", "Charlie company"]}
    assert edit.unit == unit
    [granted] = ChangeRecord.objects.filter(object_type="members.roleassignment")
    assert granted.action == changelog.CREATE and granted.unit == unit


def test_an_account_added_in_the_admin_is_logged_without_its_password(client, root):
    password = "a-long-unusual-passphrase-81"
    form = {"username": "added", "password1": password, "password2": password, "usable_password": "true"}
    response = client.post("/logged-admin/members/account/add/", form)
    assert response.status_code == 302, response.content
    [created] = ChangeRecord.objects.filter(object_type="members.account")
    assert created.changes["username"] == [None, "added"]
    assert created.changes["password"] == [None, changelog.SECRET_SET]
    assert Account.objects.get(username="added").password not in str(created.changes)


def test_a_password_set_on_the_admins_password_page_is_logged_as_changed(client, root, world):
    password = "another-long-unusual-passphrase-82"
    url = f"/logged-admin/members/account/{world.bob.pk}/password/"
    refused = client.post(url, {"password1": password, "password2": "different", "usable_password": "true"})
    assert refused.status_code == 200 and not ChangeRecord.objects.exists()
    response = client.post(url, {"password1": password, "password2": password, "usable_password": "true"})
    assert response.status_code == 302, response.content
    [changed] = ChangeRecord.objects.filter(object_type="members.account", object_id=str(world.bob.pk))
    assert changed.changes == {"password": [changelog.SECRET_SET, changelog.SECRET_CHANGED]}
    assert changed.actor == root


def test_an_admin_delete_logs_what_was_deleted(client, root):
    course = make_course("old", grants=[])
    response = client.post(f"/logged-admin/training/course/{course.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Course.objects.exists()
    [deleted] = ChangeRecord.objects.filter(object_type="training.course", action=changelog.DELETE)
    assert deleted.object_id == str(course.pk) and deleted.changes["code"] == ["old", None]


def test_the_bulk_delete_action_logs_each_record(client, root):
    first, second = make_qualification("q-1"), make_qualification("q-2")
    response = client.post(
        "/logged-admin/training/qualification/",
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    deleted = ChangeRecord.objects.filter(object_type="training.qualification", action=changelog.DELETE)
    assert sorted(deleted.values_list("object_id", flat=True)) == sorted([str(first.pk), str(second.pk)])


def test_every_registered_admin_that_edits_a_logged_record_logs_it(root):
    request = RequestFactory().get("/admin/")
    request.user = root
    unlogged = []
    for model, model_admin in admin.site._registry.items():
        checks = (model_admin.has_add_permission, model_admin.has_change_permission, model_admin.has_delete_permission)
        edits = any(check(request) for check in checks)
        if (
            changelog.label(model) in changelog.LOGGED_TYPES
            and edits
            and not isinstance(model_admin, ChangeLoggedAdmin)
        ):
            unlogged.append(changelog.label(model))
    assert not unlogged, f"admins that edit without logging: {sorted(unlogged)}"
