from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster import demo, demo_controls
from muster.custody import ledger
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent, Recall
from muster.members.models import Account, Member, Role, RoleAssignment, Unit

SMALL = 40


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker):
    """The demo, seeded once for the module inside a transaction rolled back at the end (as the access matrix's
    world is); each test runs in a savepoint inside it (pytest-django's `db`), so what a test writes is undone.
    Seeding takes seconds (on PostgreSQL some twenty), and these tests only read it or are refused."""
    from django.db import transaction
    from django.test import override_settings

    from muster.core.tests.test_access_matrix import BUILD_SETTINGS

    with django_db_blocker.unblock(), override_settings(**BUILD_SETTINGS, MUSTER_API_THROTTLING=False):
        outer = transaction.atomic()
        outer._from_testcase = True  # as django.test.TestCase marks its class-wide block: durable services run inside
        outer.__enter__()
        try:
            yield run_demo("--members", str(SMALL), "--seed", "7")
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def seeded(_seeded_once, db) -> str:
    return _seeded_once


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


def test_its_counts_are_resolved_before_signing_scan_over_minutes_and_show_every_discrepancy(seeded):
    """Each count settled as a real armory would; one count with every kind of discrepancy, a missing item found
    by a re-scan, another that became a loss case."""
    from datetime import timedelta

    from muster.custody.count_models import Count, CountScan, Discrepancy
    from muster.custody.models import LossCase

    closed = Count.objects.filter(status=Count.Status.CLOSED)
    assert closed.count() >= 4
    assert not Discrepancy.objects.filter(count__in=closed, resolution="").exists()
    for count in closed:
        times = list(CountScan.objects.filter(count=count, rescan=False).values_list("scanned_at", flat=True))
        assert len(set(times)) == len(times) > 1, count  # one scan at a time, a few seconds apart
        assert max(times) - min(times) >= timedelta(minutes=1)
        assert count.signed_by_id and count.signed_by_id != count.counter_id
    found = Discrepancy.objects.get(kind="missing", resolution="found")
    assert found.found_scan.rescan and found.found_scan.item_id == found.item_id
    assert found.found_scan.scanned_at > found.count.submitted_at
    # One count shows every kind of discrepancy, and its missing item becomes a loss case.
    (messy,) = Count.objects.filter(discrepancies__kind="unknown").distinct()
    kinds = sorted(messy.discrepancies.values_list("kind", "resolution"))
    assert kinds == [
        ("duplicate", "found"), ("misplaced", "found"), ("missing", "loss_case"), ("unexpected", "found"),
        ("unknown", "found"),
    ]  # fmt: skip
    missing = messy.discrepancies.get(kind=Discrepancy.Kind.MISSING)
    case = LossCase.objects.get(pk=missing.loss_case_id)
    assert (case.kind, case.item_id, case.last_armory_id) == ("unaccounted", missing.item_id, messy.armory_id)
    assert case.police_report_no and case.closed_at is None
    unexpected = messy.discrepancies.get(kind=Discrepancy.Kind.UNEXPECTED)
    back = LedgerEvent.objects.filter(item_id=unexpected.item_id, kind=LedgerEvent.Kind.RETURN)
    assert back.filter(recorded_at__gt=messy.submitted_at).exists()  # taken back on the books after the count
    misplaced = messy.discrepancies.get(kind=Discrepancy.Kind.MISPLACED)
    assert misplaced.item.holder_armory_id != messy.armory_id


def test_it_shows_transfers_at_posts_a_units_policy_a_webhook_and_a_damaged_item(seeded):
    from muster.core.models import Webhook
    from muster.custody import counts
    from muster.custody import policy as unit_policy
    from muster.custody.models import LossCase
    from muster.custody.policy_models import UnitPolicy

    # Reliefs at posts: the rifle goes from member to member, both typing their PINs.
    transfers = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.TRANSFER)
    assert transfers.count() >= 2
    for event in transfers:
        assert event.reason.startswith("relief at ")
        confirmed = (event.data["giver_confirmed"], event.data["receiver_confirmed"])
        assert [row["method"] for row in confirmed] == ["pin", "pin"]
        assert confirmed[0]["member"] == event.from_member_id and confirmed[1]["member"] == event.to_member_id
        assert event.from_member_id != event.to_member_id
    # One unit has its own custody policy (set by the battalion commander), inherited below it.
    (row,) = UnitPolicy.objects.select_related("unit", "updated_by")
    assert (row.unit.code, row.updated_by.username) == (f"{demo.REGION_CODE}-1BN-B", "commander")
    assert (row.default_loan_hours, row.overdue_escalation_hours, row.count_frequency) == (12, 4, "daily")
    platoon = Unit.objects.filter(parent=row.unit).first()
    assert unit_policy.effective(platoon).sources["count_frequency"] == row.unit  # inherited below it
    armory = Armory.objects.get(unit=row.unit)
    assert counts.policy(armory).frequency == "daily"
    # The webhook is configured in process too; its deliveries are checked in the subprocess test above.
    hook = Webhook.objects.get()
    assert hook.active and hook.events == demo_controls.WEBHOOK_EVENTS and hook.url.endswith(".invalid/hooks/muster")
    # A damaged item accounted for as a loss case.
    case = LossCase.objects.get(kind=LossCase.Kind.DAMAGED)
    assert case.item.item_type.category == "counter_drone" and case.last_armory_id == case.item.holder_armory_id
    assert case.police_report_no and case.opened_event.kind == LedgerEvent.Kind.LOSS
