"""Members' contact data (phone, e-mail) reaches only the member, and the commanders and auditors of the member's
unit (members.contact), on every face that shows members: the member page and API (test_web, test_api), the
roster export, the recall lists, the training session roster, overdue notices and the printed hand receipt."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.models import Notification
from muster.core.testing import make_account
from muster.core.tests.test_export import call, rows_by_member
from muster.custody import overdue, recalls, services
from muster.custody.models import Recall
from muster.custody.testing import make_item
from muster.custody.tests.test_receipts import assert_pdf
from muster.members.contact import contact_of, may_see_contact
from muster.members.models import Role
from muster.training.models import TrainingSession
from muster.training.testing import make_course

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("who", "sees"),
    [("bob", True), ("dave", True), ("erin", True), ("alice", False), ("frank", False), ("rita", False),
     ("carol", False)],
)  # fmt: skip
def test_the_rule_itself(world, who, sees):
    account = getattr(world, who)
    assert may_see_contact(account, world.bob_member) is sees
    expected = {"phone": world.bob_member.phone, "email": world.bob_member.email} if sees else {}
    assert contact_of(account, world.bob_member) == {"phone": None, "email": None, **expected}


def test_a_commander_of_a_unit_above_sees_it_and_nobody_anonymous_does(world):
    rex = make_account("rex", roles=[(Role.COMMANDER, world.region)])
    assert may_see_contact(rex, world.member_b)
    assert not may_see_contact(None, world.member_b)


@pytest.fixture
def recalled(world):
    rifle = make_item(world.armory_a, world.alice)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    recalls.flag_member_items(member=world.bob_member, reason=Recall.Reason.SUSPENDED, detail="suspended")
    return rifle


@pytest.mark.parametrize(("who", "sees"), [("dave", True), ("erin", True), ("alice", False), ("rita", False)])
def test_the_recall_lists_show_the_holders_phone_only_to_commanders_and_auditors(client, world, recalled, who, sees):
    client.force_login(getattr(world, who))
    for path in ("/", "/armories/ARM-A/", "/units/A/dashboard/"):
        html = client.get(path).content.decode()
        assert "Recall list" in html, path
        assert world.bob_member.full_name in html, path
        assert (world.bob_member.phone in html) is sees, path


def test_the_roster_export_leaves_the_contact_columns_empty_for_an_armorer(world):
    def bob_row(account) -> dict[str, str]:
        code, out, err = call("export", "roster", "--as", account.username)
        assert code == 0, err
        return rows_by_member(out)[1][world.bob_member.member_no]

    by_armorer, by_commander = bob_row(world.alice), bob_row(world.dave)
    assert (by_armorer["phone"], by_armorer["email"]) == ("", "")
    # "+1000…" is written with a leading quote so that a spreadsheet does not read it as a formula.
    assert (by_commander["phone"], by_commander["email"]) == ("'" + world.bob_member.phone, world.bob_member.email)


def test_the_session_roster_shows_phones_to_the_commander_not_to_the_armorer(client, world):
    session = TrainingSession.objects.create(
        course=make_course("basic", grants=[]),
        unit=world.unit_a,
        starts_at=timezone.now() + timedelta(days=3),
        place="Range",
    )
    session.trainees.create(member=world.bob_member)
    for account, sees in ((world.dave, True), (world.alice, False)):
        client.force_login(account)
        response = client.get(f"/training/sessions/{session.pk}/")
        assert response.status_code == 200
        assert (world.bob_member.phone in response.content.decode()) is sees, account.username


def test_overdue_notices_carry_the_phone_only_to_the_commander(world, settings, django_capture_on_commit_callbacks):
    settings.MUSTER_OVERDUE_ESCALATION_HOURS = 1
    rifle = make_item(world.armory_a, world.alice)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(hours=1))
    rifle.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        overdue.scan(rifle.due_at + timedelta(minutes=5))
        overdue.scan(rifle.due_at + timedelta(hours=2))
    to_armorers = Notification.objects.filter(subject__startswith="Overdue:")
    to_commander = Notification.objects.get(subject__startswith="Overdue (escalated)")
    assert set(to_armorers.values_list("recipient__username", flat=True)) == {"alice", "rita"}
    assert all(world.bob_member.phone not in notice.body for notice in to_armorers)
    assert to_commander.recipient == world.dave and world.bob_member.phone in to_commander.body


def test_the_hand_receipt_does_not_print_the_phone(client, world):
    rifle = make_item(world.armory_a, world.alice)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    client.force_login(world.dave)
    member_no = world.bob_member.member_no
    text = assert_pdf(
        client.get(f"/members/{member_no}/hand-receipt.pdf"),
        f"hand-receipt-{member_no}-{timezone.localdate():%Y-%m-%d}.pdf",
    )
    assert rifle.serial_number in text and world.bob_member.phone not in text
