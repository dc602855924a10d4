"""The daily expiry warnings (members/tasks.py for vetting, training/tasks.py for qualifications): each active
member and the commanders over their unit are told once per expiry, within MUSTER_EXPIRY_WARNING_DAYS."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from muster.core import notify
from muster.core.models import ExpiryWarning, Notification
from muster.core.testing import make_account, make_member
from muster.members import tasks as member_tasks
from muster.members.models import Member, Role
from muster.training import tasks as training_tasks
from muster.training.testing import make_qualification, qualify, today

pytestmark = pytest.mark.django_db


def told(subject_start: str) -> set[str]:
    return set(
        Notification.objects.filter(subject__startswith=subject_start).values_list("recipient__username", flat=True)
    )


@pytest.fixture
def region_commander(world):
    return make_account("rex", roles=[(Role.COMMANDER, world.region)])


def set_vetting(member: Member, days_left: int) -> None:
    Member.objects.filter(pk=member.pk).update(vetting_valid_until=today() + timedelta(days=days_left))


# --- vetting -------------------------------------------------------------------------------------------------------


def test_it_warns_the_member_and_the_commanders_over_their_unit_once(
    world, region_commander, django_capture_on_commit_callbacks
):
    set_vetting(world.bob_member, 12)
    with django_capture_on_commit_callbacks(execute=True):
        assert member_tasks.warn_expiring_vetting() == 1
    assert told("Vetting expires") == {"bob", "dave", "rex"}  # not carol, nor unit B's people
    notification = Notification.objects.get(recipient=world.bob)
    expires = today() + timedelta(days=12)
    assert notification.subject == f"Vetting expires {expires:%Y-%m-%d}: {world.bob_member}"
    assert "in 12 days" in notification.body
    assert notification.url == f"/members/{world.bob_member.member_no}/"
    warning = ExpiryWarning.objects.get()
    assert (warning.kind, warning.member_id, warning.subject_id, warning.expires_on) == (
        "vetting", world.bob_member.pk, "", expires
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert member_tasks.warn_expiring_vetting() == 0  # the next day's run: nothing twice
    assert Notification.objects.count() == 3 and ExpiryWarning.objects.count() == 1


def test_a_renewed_vetting_is_warned_about_again_when_it_nears_its_new_expiry(
    world, django_capture_on_commit_callbacks
):
    set_vetting(world.bob_member, 5)
    with django_capture_on_commit_callbacks(execute=True):
        member_tasks.warn_expiring_vetting()
    set_vetting(world.bob_member, 400)  # renewed
    with django_capture_on_commit_callbacks(execute=True):
        assert member_tasks.warn_expiring_vetting() == 0
        assert member_tasks.warn_expiring_vetting(today=today() + timedelta(days=380)) == 1
    assert ExpiryWarning.objects.filter(member=world.bob_member).count() == 2


def test_the_window_is_configurable_and_inclusive(world, settings):
    set_vetting(world.bob_member, 31)
    assert member_tasks.warn_expiring_vetting() == 0  # default 30 days
    settings.MUSTER_EXPIRY_WARNING_DAYS = 31
    assert member_tasks.warn_expiring_vetting() == 1


def test_it_skips_expired_vetting_and_members_who_are_not_active(world):
    set_vetting(world.bob_member, -1)  # already expired: the recall scan's business
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED, vetted_days=3)
    assert member_tasks.warn_expiring_vetting() == 0
    assert not ExpiryWarning.objects.filter(member__in=[world.bob_member, suspended]).exists()


def test_a_member_without_an_account_still_reaches_the_commanders(world, django_capture_on_commit_callbacks):
    member = make_member(world.unit_b, vetted_days=2)
    cora = make_account("cora", roles=[(Role.COMMANDER, world.unit_b)])
    with django_capture_on_commit_callbacks(execute=True):
        assert member_tasks.warn_expiring_vetting() == 1
    assert set(Notification.objects.values_list("recipient_id", flat=True)) == {cora.pk}
    assert ExpiryWarning.objects.get().member == member


def test_two_runs_at_once_warn_once(world, django_capture_on_commit_callbacks):
    """The unique constraint decides: a second worker's insert of the same warning fails and sends nothing."""
    expiry = notify.Expiry(
        kind=ExpiryWarning.Kind.VETTING, member_id=world.bob_member.pk, subject_id="",
        expires_on=today() + timedelta(days=3), recipients=[world.bob.pk], subject="Vetting expires", body="",
        url="/",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert notify.warn_once(expiry) is True
        assert notify.warn_once(expiry) is False
    assert ExpiryWarning.objects.count() == 1
    assert Notification.objects.count() == 1


# --- qualifications ------------------------------------------------------------------------------------------------


def test_it_warns_of_a_qualification_expiring_once_per_expiry(world, django_capture_on_commit_callbacks):
    rifle = make_qualification("rifle", name="Rifle (AK family)")
    qualify(world.bob_member, rifle, world.dave, days_left=20)
    with django_capture_on_commit_callbacks(execute=True):
        assert training_tasks.warn_expiring_qualifications() == 1
        assert training_tasks.warn_expiring_qualifications() == 0
    assert told("Rifle (AK family) expires") == {"bob", "dave"}
    warning = ExpiryWarning.objects.get()
    assert (warning.kind, warning.subject_id) == ("qualification", str(rifle.pk))
    assert "in 20 days" in Notification.objects.get(recipient=world.bob).body


def test_the_latest_grant_counts(world):
    rifle = make_qualification("rifle")
    qualify(world.bob_member, rifle, world.dave, days_left=10)
    qualify(world.bob_member, rifle, world.dave, days_left=300)  # renewed already
    assert training_tasks.warn_expiring_qualifications() == 0
    assert not ExpiryWarning.objects.exists()


def test_each_qualification_is_warned_about_on_its_own(world):
    rifle, radio = make_qualification("rifle"), make_qualification("radio")
    qualify(world.bob_member, rifle, world.dave, days_left=5)
    qualify(world.bob_member, radio, world.dave, days_left=6)
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    qualify(suspended, rifle, world.dave, days_left=5)
    assert training_tasks.warn_expiring_qualifications() == 2
    assert set(ExpiryWarning.objects.values_list("member_id", "subject_id")) == {
        (world.bob_member.pk, str(rifle.pk)), (world.bob_member.pk, str(radio.pk))
    }  # fmt: skip


def test_vetting_and_qualification_warnings_do_not_stand_in_for_each_other(world):
    set_vetting(world.bob_member, 9)
    qualify(world.bob_member, make_qualification("rifle"), world.dave, days_left=9)
    assert member_tasks.warn_expiring_vetting() == 1
    assert training_tasks.warn_expiring_qualifications() == 1
    assert ExpiryWarning.objects.count() == 2


# --- the worker ----------------------------------------------------------------------------------------------------


def test_the_daily_jobs_are_periodic_worker_tasks(world, capsys):
    set_vetting(world.bob_member, 4)
    qualify(world.bob_member, make_qualification("rifle"), world.dave, days_left=4)
    assert member_tasks.warn_expiring_vetting_daily.call_local() == 1
    assert training_tasks.warn_expiring_qualifications_daily.call_local() == 1
    call_command("worker", "--list")
    out = capsys.readouterr().out
    assert "periodic  muster.members.tasks.warn_expiring_vetting_daily" in out
    assert "periodic  muster.training.tasks.warn_expiring_qualifications_daily" in out


def test_members_never_imports_training_or_custody():
    source = Path(member_tasks.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if name.startswith(("muster.training", "muster.custody"))}
