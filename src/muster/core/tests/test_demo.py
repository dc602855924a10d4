import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster import demo
from muster.core.testing import make_member, make_unit
from muster.custody import ledger
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent, Recall
from muster.members.models import Account, Member, Role, RoleAssignment, Unit

SMALL = 40


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def seeded(db) -> str:
    return run_demo("--members", str(SMALL), "--seed", "7")


def test_it_builds_a_region_of_battalions_companies_platoons_and_posts(seeded):
    region = Unit.objects.get(code=demo.REGION_CODE, kind=Unit.Kind.REGION, parent=None)
    battalions = Unit.objects.filter(parent=region, kind=Unit.Kind.BATTALION)
    assert battalions.count() == 2
    companies = Unit.objects.filter(parent__in=battalions, kind=Unit.Kind.COMPANY)
    assert companies.count() == 6
    for company in companies:
        leaves = Unit.objects.filter(parent=company)
        assert 2 <= leaves.count() <= 3
        assert {leaf.kind for leaf in leaves} <= {Unit.Kind.PLATOON, Unit.Kind.POST}
        assert all(leaf.path.startswith(region.path) and leaf.depth == 3 for leaf in leaves)


def test_it_puts_the_members_on_platoons_and_posts_with_mixed_statuses(seeded):
    assert Member.objects.count() == SMALL
    on_leaves = Member.objects.filter(unit__kind__in=[Unit.Kind.PLATOON, Unit.Kind.POST])
    assert on_leaves.count() >= SMALL - 4  # the four staff members sit at headquarters
    assert Member.objects.filter(status=Member.Status.ACTIVE).count() > SMALL // 2
    assert Member.objects.filter(status=Member.Status.APPLICANT).exists()
    assert all(member.phone.startswith(demo.PHONE_PREFIXES) for member in Member.objects.all())
    assert len(set(Member.objects.values_list("phone", flat=True))) == SMALL


def test_it_gives_each_company_an_arms_room_and_each_battalion_a_vehicle_park(seeded):
    for company in Unit.objects.filter(kind=Unit.Kind.COMPANY):
        assert Armory.objects.filter(unit=company, home_items__item_type__category="firearm").exists()
    for battalion in Unit.objects.filter(kind=Unit.Kind.BATTALION):
        park = Armory.objects.get(unit=battalion)
        assert Item.objects.filter(home_armory=park, item_type__category="vehicle").count() == 6


def test_it_registers_every_item_on_the_ledger_and_the_ledger_verifies(seeded):
    items = Item.objects.count()
    assert items > SMALL
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.REGISTER, item_version=1).count() == items
    categories = set(Item.objects.values_list("item_type__category", flat=True))
    assert categories == {"firearm", "counter_drone", "vehicle", "radio", "optics", "key", "seal"}
    result = ledger.verify()
    assert result.ok, result.summary()
    assert result.events == LedgerEvent.objects.count()


def test_it_issues_items_only_to_members_the_gate_allows_or_a_commander_countersigned(seeded):
    from datetime import timedelta

    from muster.custody.models import LossCase
    from muster.training.queries import missing_qualifications

    issued = Item.objects.filter(holder_kind=HolderKind.MEMBER).select_related("holder_member__unit", "home_armory")
    assert issued.count() > 0
    today = timezone.localdate()
    for item in issued:
        holder = item.holder_member
        event = LedgerEvent.objects.filter(item=item, kind=LedgerEvent.Kind.ISSUE, to_member=holder).last()
        assert event is not None
        assert holder.unit.path.startswith(item.home_armory.unit.path)
        if item.due_at is None:  # reported lost: the last custodian stays on record, the loan ended
            assert LossCase.objects.filter(item=item, closed_at=None).exists()
            continue
        if item.due_at <= timezone.now():  # overdue on purpose: issued in the simulated days before today
            assert event.recorded_at < timezone.now() - timedelta(days=1)
        if holder.status == Member.Status.SUSPENDED:  # suspended after the issue: the item is being recalled
            assert Recall.objects.filter(item=item, resolved_at=None, reason="member_suspended").exists()
            continue
        assert holder.status == Member.Status.ACTIVE and holder.vetting_valid_until >= today
        required = list(item.item_type.required_qualifications.all())
        if "override" not in event.data:
            assert missing_qualifications(holder, required, timezone.localdate(item.due_at)) == []


def test_it_shows_valid_expiring_and_expired_qualifications_sessions_recalls_and_an_override(seeded):
    from datetime import timedelta

    from muster.training.models import MemberQualification, TrainingSession

    today = timezone.localdate()
    grants = MemberQualification.objects.all()
    assert grants.filter(expires_on__gt=today + timedelta(days=30)).exists()
    assert grants.filter(expires_on__gte=today, expires_on__lte=today + timedelta(days=30)).exists()
    assert grants.filter(expires_on__lt=today).exists()
    assert grants.filter(source=MemberQualification.Source.PRIOR_SERVICE).exclude(evidence="").exists() or not (
        Member.objects.filter(is_veteran=True, status=Member.Status.ACTIVE).exists()
    )
    assert TrainingSession.objects.filter(status="completed").exists()
    assert TrainingSession.objects.filter(status="planned", starts_at__gt=timezone.now()).exists()
    assert Recall.objects.filter(resolved_at=None).exists()
    override = LedgerEvent.objects.get(data__has_key="override")
    assert override.data["override"]["codes"] == ["member_not_qualified"]
    assert Account.objects.get(pk=override.data["override"]["commander"]).username == "commander"


def test_it_creates_one_account_per_role_on_the_right_unit(seeded):
    region = Unit.objects.get(code=demo.REGION_CODE)
    first_battalion = Unit.objects.get(code=f"{demo.REGION_CODE}-1BN")
    armorers_company = Unit.objects.get(code=f"{demo.REGION_CODE}-1BN-A")
    expected = {
        "commander": (Role.COMMANDER, first_battalion),
        "armorer": (Role.ARMORER, armorers_company),
        "duty": (Role.DUTY_OFFICER, first_battalion),
        "auditor": (Role.AUDITOR, region),
    }
    for username, (role, unit) in expected.items():
        account = Account.objects.get(username=username)
        assert list(RoleAssignment.objects.filter(account=account).values_list("role", "unit")) == [(role, unit.pk)]
        assert account.member is not None and account.member.status == Member.Status.ACTIVE
    member_account = Account.objects.get(username="member")
    assert list(member_account.roles.values_list("role", flat=True)) == [Role.MEMBER]
    assert Account.objects.get(username="admin").is_superuser


def test_the_member_account_holds_an_item_from_the_armorers_arms_room(seeded):
    member = Account.objects.get(username="member").member
    held = Item.objects.filter(holder_member=member)
    assert held.exists()
    assert all(item.home_armory.unit.code == f"{demo.REGION_CODE}-1BN-A" for item in held)


def test_the_printed_accounts_can_log_in(seeded, client):
    usernames = ["admin", "commander", "armorer", "duty", "auditor", "member"]
    for username in usernames:
        assert username in seeded
        assert client.login(username=username, password=demo.DEMO_PASSWORD), username
        client.logout()
    assert demo.DEMO_PASSWORD in seeded
    assert "ledger ok" in seeded


def test_it_refuses_a_database_that_already_holds_members(seeded):
    events, members = ledger.event_count(), Member.objects.count()
    with pytest.raises(CommandError, match="already holds members") as refusal:
        run_demo("--members", str(SMALL))
    assert refusal.value.returncode == 1
    assert (ledger.event_count(), Member.objects.count()) == (events, members)


def test_if_empty_prints_the_accounts_of_an_existing_demo_and_changes_nothing(seeded):
    counts = (Member.objects.count(), Item.objects.count(), LedgerEvent.objects.count())
    out = run_demo("--if-empty")
    assert "not seeding again" in out
    for username in ("admin", "commander", "armorer", "duty", "auditor", "member"):
        assert username in out
    assert demo.DEMO_PASSWORD in out
    assert (Member.objects.count(), Item.objects.count(), LedgerEvent.objects.count()) == counts


def test_reset_refuses_a_database_that_does_not_hold_the_demo(db):
    make_member(make_unit("REAL"))
    with pytest.raises(CommandError, match="--reset") as refusal:
        run_demo("--reset", "--members", str(SMALL))
    assert refusal.value.returncode == 1
    assert Member.objects.count() == 1
    assert not Unit.objects.filter(code=demo.REGION_CODE).exists()


def test_it_refuses_to_run_in_production_mode(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="development mode") as refusal:
        run_demo("--members", str(SMALL))
    assert refusal.value.returncode == 1
    assert not Member.objects.exists()


def test_it_refuses_too_few_members(db):
    with pytest.raises(CommandError, match="at least") as refusal:
        run_demo("--members", "3")
    assert refusal.value.returncode == 2
    assert not Member.objects.exists()


def _accounts_table(output: str) -> list[str]:
    return [line for line in output.splitlines() if demo.DEMO_PASSWORD in line]


def test_the_cli_seeds_refuses_a_second_run_and_resets_to_the_same_data(tmp_path):
    """End to end in a throwaway SQLite database: same seed, same demo, after --reset."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(MUSTER_VAR_DIR=str(tmp_path), MUSTER_MODE="development")

    def muster(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "muster", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert muster("migrate", "-v0").returncode == 0
    first = muster("demo", "--members", "20", "--seed", "11")
    assert first.returncode == 0, first.stderr
    again = muster("demo", "--members", "20", "--seed", "11")
    assert again.returncode == 1
    assert "already holds members" in again.stderr
    reset = muster("demo", "--reset", "--members", "20", "--seed", "11")
    assert reset.returncode == 0, reset.stderr
    assert len(_accounts_table(first.stdout)) == 6
    assert _accounts_table(reset.stdout) == _accounts_table(first.stdout)
    assert "ledger ok" in reset.stdout


def test_it_shows_every_custody_control_with_dated_history(seeded):
    from datetime import timedelta

    from muster.custody.count_models import Count
    from muster.custody.lot_models import Lot, LotBalance
    from muster.custody.models import LedgerCheckpoint, LossCase

    now = timezone.now()
    first = LedgerEvent.objects.order_by("seq").first().recorded_at
    assert first < now - timedelta(days=30)  # five weeks of history, in sequence order
    times = list(LedgerEvent.objects.order_by("seq").values_list("recorded_at", flat=True))
    assert times == sorted(times)
    assert Count.objects.filter(status=Count.Status.CLOSED, signed_by__isnull=False).count() >= 4
    assert Count.objects.filter(discrepancies__resolution="found").exists()
    assert LossCase.objects.filter(closed_at=None, item__isnull=False, status="escalated").exists()
    assert LossCase.objects.filter(status="recovered", item__isnull=False).exists()
    assert LossCase.objects.filter(lot__isnull=False).exists()
    assert Item.objects.filter(holder_armory__kind=Armory.Kind.WORKSHOP).exists()
    assert Item.objects.filter(holder_kind=HolderKind.MEMBER, due_at__lt=now).exists()  # overdue
    assert Item.objects.filter(opens_armory__isnull=False, holder_kind=HolderKind.MEMBER).exists()  # the duty key
    assert Lot.objects.filter(recalled_at__isnull=False).exists()
    assert LotBalance.objects.filter(lot__recalled_at__isnull=False, holder_kind="member", quantity__gt=0).exists()
    assert LedgerEvent.objects.filter(kind="lot_expend", data__expended__justification="training_session").exists()
    assert LedgerCheckpoint.objects.exists()
