"""The two-person handover on the web: the member's PIN on the issue form, the transfer form, setting a PIN on the
member page, and transfers and confirmations in the ledger history."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import PASSWORD, make_account, make_member
from muster.custody import handover, losses, services
from muster.custody.models import HandoverAttempt, HandoverPin, HolderKind, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.test_web import HTMX, ledger_state, login
from muster.members.models import Member, Role
from muster.training.testing import make_qualification

pytestmark = pytest.mark.django_db

BOB_PIN, ALICE_PIN, CARL_PIN = "4711", "8302", "5926"


@pytest.fixture
def carl(world):
    """A second member of unit A, to receive handovers."""
    return make_member(world.unit_a, first_name="Carl", last_name="Cooper")


@pytest.fixture
def pins(world, carl, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin=BOB_PIN, actor=world.alice)
    handover.set_pin(member=world.alice.member, pin=ALICE_PIN, actor=world.alice)
    handover.set_pin(member=carl, pin=CARL_PIN, actor=world.alice)


def issue_to(world, member, pin, *, serial="", by=None):
    """An item issued to `member` (by alice unless `by`), confirmed with their PIN (the attempt log is cleared)."""
    by = by or world.alice
    item = make_item(world.armory_a, world.alice, serial=serial)
    receiver = handover.confirm(member=member, pin=pin, actor=by, purpose="issue")
    services.issue(item=item, member=member, actor=by, receiver=receiver)
    HandoverAttempt.objects.all().delete()
    item.refresh_from_db()
    return item


def page_of(member):
    return reverse("member-page", args=[member.member_no])


def attempts():
    return list(HandoverAttempt.objects.order_by("pk").values_list("member_id", "succeeded", "purpose", "actor_id"))


# --- the issue form ------------------------------------------------------------------------------------------------


def test_the_issue_form_asks_for_the_pin_as_a_numeric_password_in_the_scan_chain(client, world, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    response = login(client, world.alice).get(reverse("custody-issue"))
    field = str(response.context["form"]["pin"])
    assert 'type="password"' in field and 'inputmode="numeric"' in field and 'autocomplete="off"' in field
    assert "data-scan" in field and "required" in field
    html = response.content.decode()
    # serial → member number → PIN: three scanned fields, in that order, then Enter submits.
    assert html.index('id="id_serial"') < html.index('id="id_member_no"') < html.index('id="id_pin"')
    assert html.count("data-scan") == 3


def test_without_the_site_rule_the_pin_is_optional_and_outside_the_scan_chain(client, world):
    field = login(client, world.alice).get(reverse("custody-issue")).context["form"]["pin"]
    assert not field.field.required
    assert "data-scan" not in str(field)


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_it_issues_with_the_members_pin_and_records_the_confirmation(client, world, pins, headers):
    item = make_item(world.armory_a, world.alice, serial="AK-PIN-1")
    response = login(client, world.alice).post(
        reverse("custody-issue"),
        {"serial": "AK-PIN-1", "member_no": world.bob_member.member_no, "pin": BOB_PIN},
        **headers,
    )
    event = LedgerEvent.objects.get(item=item, kind="issue")
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}
    item.refresh_from_db()
    assert (item.holder_kind, item.holder_member) == (HolderKind.MEMBER, world.bob_member)
    assert attempts() == [(world.bob_member.pk, True, "issue", world.alice.pk)]
    page = client.get(response.url) if response.status_code == 302 else response
    assert "confirmed by PIN" in page.content.decode()
    assert BOB_PIN not in page.content.decode()


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_wrong_pin_is_refused_logged_and_changes_nothing(client, world, pins, headers):
    make_item(world.armory_a, world.alice, serial="AK-PIN-2")
    before = ledger_state()
    response = login(client, world.alice).post(
        reverse("custody-issue"),
        {"serial": "AK-PIN-2", "member_no": world.bob_member.member_no, "pin": "9051"},
        **headers,
    )
    assert response.status_code == 409
    form = response.context["form"]
    assert "[pin_wrong]" in form.errors["pin"][0] and "4 more tries" in form.errors["pin"][0]
    html = response.content.decode()
    assert "9051" not in html  # the PIN is never echoed back
    assert form["serial"].value() == "AK-PIN-2"  # the scans stay; only the PIN is typed again
    assert "autofocus" in str(form["pin"]) and "autofocus" not in str(form["serial"])
    assert ledger_state() == before
    assert attempts() == [(world.bob_member.pk, False, "issue", world.alice.pk)]
    assert HandoverPin.objects.get(member=world.bob_member).failures == 1


def test_five_wrong_pins_lock_the_pin_and_then_even_the_right_one_is_refused(client, world, pins):
    make_item(world.armory_a, world.alice, serial="AK-PIN-3")
    before = ledger_state()
    login(client, world.alice)
    data = {"serial": "AK-PIN-3", "member_no": world.bob_member.member_no, "pin": "9051"}
    for _ in range(5):
        response = client.post(reverse("custody-issue"), data)
    assert "now locked" in response.context["form"].errors["pin"][0]
    response = client.post(reverse("custody-issue"), {**data, "pin": BOB_PIN})
    assert response.status_code == 409
    assert "[pin_locked]" in response.context["form"].errors["pin"][0]
    assert ledger_state() == before
    assert [succeeded for _, succeeded, _, _ in attempts()] == [False] * 5
    assert HandoverPin.objects.get(member=world.bob_member).locked_until > timezone.now()


def test_a_member_without_a_pin_cannot_be_issued_to(client, world, pins):
    make_item(world.armory_a, world.alice, serial="AK-PIN-4")
    newcomer = make_member(world.unit_a)
    before = ledger_state()
    response = login(client, world.alice).post(
        reverse("custody-issue"), {"serial": "AK-PIN-4", "member_no": newcomer.member_no, "pin": "5926"}
    )
    assert response.status_code == 409
    assert "[pin_not_set]" in response.context["form"].errors["pin"][0]
    assert ledger_state() == before


def test_the_pin_is_required_when_the_site_requires_it(client, world, pins):
    make_item(world.armory_a, world.alice, serial="AK-PIN-5")
    before = ledger_state()
    response = login(client, world.alice).post(
        reverse("custody-issue"), {"serial": "AK-PIN-5", "member_no": world.bob_member.member_no}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["pin"]
    assert ledger_state() == before
    assert attempts() == []


def test_a_pin_typed_without_the_site_rule_is_still_checked_and_recorded(client, world):
    handover.set_pin(member=world.bob_member, pin=BOB_PIN, actor=world.alice)
    item = make_item(world.armory_a, world.alice, serial="AK-PIN-6")
    login(client, world.alice)
    data = {"serial": "AK-PIN-6", "member_no": world.bob_member.member_no}
    assert client.post(reverse("custody-issue"), {**data, "pin": "9051"}).status_code == 409
    assert client.post(reverse("custody-issue"), {**data, "pin": BOB_PIN}).status_code == 302
    assert LedgerEvent.objects.get(item=item, kind="issue").data["receiver_confirmed"]["member"] == world.bob_member.pk


@pytest.fixture
def guarded_rifle(world):
    item_type = make_item_type("AK-12 rifle")
    item_type.required_qualifications.add(make_qualification("rifle-ak", name="Rifle (AK)"))
    return make_item(world.armory_a, world.alice, item_type=item_type, serial="AK12-PIN")


def test_a_countersigned_override_goes_ahead_with_the_members_pin(client, world, pins, guarded_rifle):
    login(client, world.alice)
    data = {"serial": "AK12-PIN", "member_no": world.bob_member.member_no, "pin": BOB_PIN}
    refused = client.post(reverse("custody-issue"), data)
    assert refused.status_code == 409 and refused.context["show_override"]
    countersign = {"override_commander": "dave", "override_reason": "range qualification tomorrow, supervised"}
    wrong_pin = client.post(reverse("custody-issue"), {**data, **countersign, "override_password": PASSWORD,
                                                       "pin": "9051"})  # fmt: skip
    assert wrong_pin.status_code == 409
    assert wrong_pin.context["show_override"]  # the countersign stays open while the member retries
    assert not LedgerEvent.objects.filter(item=guarded_rifle, kind="issue").exists()
    response = client.post(reverse("custody-issue"), {**data, **countersign, "override_password": PASSWORD})
    assert response.status_code == 302
    event = LedgerEvent.objects.get(item=guarded_rifle, kind="issue")
    assert event.data["override"]["commander"] == world.dave.pk
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}


# --- the transfer form ---------------------------------------------------------------------------------------------


def transfer_data(item, to_member, giver_pin, receiver_pin, **extra):
    return {"serial": item.serial_number, "to_member_no": to_member.member_no, "giver_pin": giver_pin,
            "receiver_pin": receiver_pin, **extra}  # fmt: skip


@pytest.mark.parametrize("url", [reverse("custody-transfer")])
def test_the_transfer_form_sends_anonymous_visitors_to_the_login_page(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["alice", "frank", "bob", "rita"])
def test_armorers_duty_officers_and_members_open_the_transfer_form(client, world, who):
    response = login(client, getattr(world, who)).get(reverse("custody-transfer"), {"serial": "AK-X"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form["serial"].value() == "AK-X"
    assert "autofocus" in str(form["to_member_no"]) and "autofocus" not in str(form["serial"])  # next: the badge
    assert response.content.decode().count("data-scan") == 4  # serial, receiver, giver's PIN, receiver's PIN


@pytest.mark.parametrize("who", ["dave", "erin"])
def test_the_transfer_form_is_forbidden_to_staff_who_record_no_handovers(client, world, pins, carl, who):
    item = issue_to(world, world.bob_member, BOB_PIN)
    before = ledger_state()
    login(client, getattr(world, who))
    assert client.get(reverse("custody-transfer")).status_code == 403
    response = client.post(reverse("custody-transfer"), transfer_data(item, carl, BOB_PIN, CARL_PIN))
    assert response.status_code == 403
    assert ledger_state() == before
    assert attempts() == []


@pytest.mark.parametrize("who", ["frank", "alice", "bob"])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_it_hands_an_item_from_member_to_member_with_both_pins(client, world, pins, carl, who, headers):
    item = issue_to(world, world.bob_member, BOB_PIN, serial="AK-HAND-1")
    due = item.due_at
    actor = getattr(world, who)
    response = login(client, actor).post(
        reverse("custody-transfer"), transfer_data(item, carl, BOB_PIN, CARL_PIN, reason="relief at post 3"), **headers
    )
    assert response.status_code == (200 if headers else 302)
    event = LedgerEvent.objects.get(item=item, kind="transfer")
    assert (event.from_member, event.to_member, event.actor, event.reason) == (
        world.bob_member, carl, actor, "relief at post 3"
    )  # fmt: skip
    assert event.data == {
        "giver_confirmed": {"member": world.bob_member.pk, "method": "pin"},
        "receiver_confirmed": {"member": carl.pk, "method": "pin"},
    }
    item.refresh_from_db()
    assert (item.holder_kind, item.holder_member, item.due_at) == (HolderKind.MEMBER, carl, due)
    assert attempts() == [(world.bob_member.pk, True, "transfer", actor.pk), (carl.pk, True, "transfer", actor.pk)]
    page = response if headers else client.get(response.url)
    html = page.content.decode()
    assert "Handed over" in html and carl.full_name in html and world.bob_member.full_name in html
    assert html.count("confirmed by PIN") == 2


def test_a_transfer_sets_a_new_due_back_time_when_given(client, world, pins, carl):
    item = issue_to(world, world.bob_member, BOB_PIN)
    due = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = login(client, world.frank).post(
        reverse("custody-transfer"), transfer_data(item, carl, BOB_PIN, CARL_PIN, due_at=due.strftime("%Y-%m-%dT%H:%M"))
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.holder_member, item.due_at) == (carl, due)


def _transfer_refusals(world, carl):
    """case → (actor, data builder, status, code, the field the error shows under or None)."""
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    handover.set_pin(member=suspended, pin="7193", actor=world.alice)
    handover.set_pin(member=world.member_b, pin="3817", actor=world.carol)
    no_pin = make_member(world.unit_a)
    cora = make_account("cora", roles=[(Role.COMMANDER, world.unit_a)], member=make_member(world.unit_a))
    stored = make_item(world.armory_a, world.alice, serial="AK-STORED")
    alices = issue_to(world, world.alice.member, ALICE_PIN, serial="AK-ALICES", by=world.rita)  # not to herself
    return {
        "item_not_issued": (world.frank, lambda item: transfer_data(stored, carl, BOB_PIN, CARL_PIN), 409,
                            "item_not_issued", None),
        "transfer_to_holder": (world.frank, lambda item: transfer_data(item, world.bob_member, BOB_PIN, BOB_PIN),
                               400, "transfer_to_holder", None),
        "member_out_of_scope": (world.rita, lambda item: transfer_data(item, world.member_b, BOB_PIN, "3817"), 403,
                                "member_out_of_scope", None),
        "receiver_not_active": (world.frank, lambda item: transfer_data(item, suspended, BOB_PIN, "7193"), 409,
                                "member_not_active", None),
        "giver_pin_wrong": (world.frank, lambda item: transfer_data(item, carl, "9051", CARL_PIN), 409, "pin_wrong",
                            "giver_pin"),
        "receiver_pin_wrong": (world.frank, lambda item: transfer_data(item, carl, BOB_PIN, "9051"), 409,
                               "pin_wrong", "receiver_pin"),
        "receiver_pin_not_set": (world.frank, lambda item: transfer_data(item, no_pin, BOB_PIN, "5926"), 409,
                                 "pin_not_set", "receiver_pin"),
        "not_transfer_recorder": (cora, lambda item: transfer_data(item, carl, BOB_PIN, CARL_PIN), 403,
                                  "not_transfer_recorder", None),
        "someone_elses_item": (world.bob, lambda item: transfer_data(alices, carl, ALICE_PIN, CARL_PIN), 404,
                               "item_not_found", None),
        "receiver_of_another_unit": (world.bob, lambda item: transfer_data(item, world.member_b, BOB_PIN, "3817"),
                                     404, "member_not_found", None),
        "due_in_past": (world.frank, lambda item: transfer_data(
            item, carl, BOB_PIN, CARL_PIN, due_at=(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        ), 400, "due_in_past", None),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["item_not_issued", "transfer_to_holder", "member_out_of_scope", "receiver_not_active", "giver_pin_wrong",
     "receiver_pin_wrong", "receiver_pin_not_set", "not_transfer_recorder", "someone_elses_item",
     "receiver_of_another_unit", "due_in_past"],
)  # fmt: skip
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_it_refuses_a_transfer_with_its_code_and_changes_nothing(client, world, pins, carl, case, headers):
    item = issue_to(world, world.bob_member, BOB_PIN, serial="AK-HAND-2")
    actor, build, status, code, field = _transfer_refusals(world, carl)[case]
    HandoverAttempt.objects.all().delete()
    before = ledger_state()
    response = login(client, actor).post(reverse("custody-transfer"), build(item), **headers)
    assert response.status_code == status
    form = response.context["form"]
    errors = form.errors[field] if field else form.non_field_errors()
    assert any(f"[{code}]" in error for error in errors)
    html = response.content.decode()
    assert "9051" not in html and BOB_PIN not in html  # no PIN is echoed back
    assert ledger_state() == before
    item.refresh_from_db()
    assert item.holder_member == world.bob_member
    if case == "giver_pin_wrong":  # the receiver is not asked once the giver failed
        assert attempts() == [(world.bob_member.pk, False, "transfer", actor.pk)]
    if field is None:  # a rule refused it: the rules are checked before any PIN, so none was tried or logged
        assert attempts() == []


def freeze(world, member, pin):
    """An open loss case naming `member` as the last custodian: the gate refuses them everything (member_frozen)."""
    item = issue_to(world, member, pin, serial=f"LOST-{member.pk}")
    losses.open_case(item=item, kind="lost", circumstances="Not back from patrol.", place="Sector 2",
                     occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice)  # fmt: skip
    HandoverAttempt.objects.all().delete()


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_transfer_to_a_frozen_member_is_refused_before_any_pin_is_checked(client, world, pins, carl, headers):
    item = issue_to(world, world.bob_member, BOB_PIN, serial="AK-FROZEN-T")
    freeze(world, carl, CARL_PIN)
    before = ledger_state()
    response = login(client, world.frank).post(
        reverse("custody-transfer"), transfer_data(item, carl, BOB_PIN, CARL_PIN), **headers
    )
    assert response.status_code == 409
    assert any("[member_frozen]" in error for error in response.context["form"].non_field_errors())
    assert ledger_state() == before
    assert attempts() == []  # neither PIN was tried, logged or counted towards a lockout
    assert list(HandoverPin.objects.order_by("member_id").values_list("failures", flat=True)) == [0, 0, 0]


def test_a_wrong_pin_for_a_transfer_the_rules_refuse_does_not_count_towards_the_lockout(client, world, pins, carl):
    item = issue_to(world, world.bob_member, BOB_PIN, serial="AK-FROZEN-L")
    freeze(world, carl, CARL_PIN)
    login(client, world.frank)
    for _ in range(6):  # more than the lockout allows, all refused by the rules first
        response = client.post(reverse("custody-transfer"), transfer_data(item, carl, "9051", "9051"))
        assert response.status_code == 409 and "[member_frozen]" in response.content.decode()
    assert attempts() == []
    assert not HandoverPin.objects.filter(locked_until__isnull=False).exists()


@pytest.fixture
def in_workshop(world):
    from muster.custody import maintenance
    from muster.custody.models import Armory

    workshop = Armory.objects.create(code="WS-A", name="Workshop A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)
    item = make_item(world.armory_a, world.alice, serial="AK-WS")
    maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="Sights loose")
    return item


def _issue_refusals(world, carl):
    """case → (serial, member, extra form data, status, code): issues the rules refuse whatever PIN is typed."""
    damaged = make_item(world.armory_a, world.alice, serial="AK-DAMAGED")
    losses.open_case(item=damaged, kind="damaged", circumstances="Barrel bent.", place="Arms room A",
                     occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice)  # fmt: skip
    make_item(world.armory_a, world.alice, serial="AK-FREE")
    freeze(world, world.bob_member, BOB_PIN)
    make_account("cobb", roles=[(Role.COMMANDER, world.unit_b)])  # a commander, but of another unit
    countersign = {"override_commander": "cobb", "override_password": PASSWORD,
                   "override_reason": "range qualification tomorrow, supervised"}  # fmt: skip
    return {
        "member_frozen": ("AK-FREE", world.bob_member, {}, 409, "member_frozen"),
        "item_lost": ("AK-DAMAGED", carl, {}, 409, "item_lost"),
        "item_in_maintenance": ("AK-WS", carl, {}, 409, "item_in_maintenance"),
        "member_not_qualified": ("AK12-PIN", carl, {}, 409, "member_not_qualified"),
        "override_not_commander": ("AK12-PIN", carl, countersign, 403, "override_not_commander"),
        "due_in_past": ("AK-FREE", carl, {"due_at": (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
                        400, "due_in_past"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["member_frozen", "item_lost", "item_in_maintenance", "member_not_qualified", "override_not_commander",
     "due_in_past"],
)  # fmt: skip
def test_an_issue_the_rules_refuse_checks_no_pin(client, world, pins, carl, guarded_rifle, in_workshop, case):
    serial, member, extra, status, code = _issue_refusals(world, carl)[case]
    pin = BOB_PIN if member == world.bob_member else CARL_PIN
    before = ledger_state()
    response = login(client, world.alice).post(
        reverse("custody-issue"), {"serial": serial, "member_no": member.member_no, "pin": pin, **extra}
    )
    assert response.status_code == status
    assert f"[{code}]" in response.content.decode()
    assert ledger_state() == before
    assert attempts() == []  # the PIN was not tried: nothing logged, nothing counted


def test_the_pin_is_checked_once_the_rules_pass(client, world, pins, carl):
    """The rules go first, and then the PIN still decides: a wrong one is logged and refused."""
    make_item(world.armory_a, world.alice, serial="AK-ORDER")
    response = login(client, world.alice).post(
        reverse("custody-issue"), {"serial": "AK-ORDER", "member_no": carl.member_no, "pin": "9051"}
    )
    assert response.status_code == 409 and "[pin_wrong]" in response.context["form"].errors["pin"][0]
    assert attempts() == [(carl.pk, False, "issue", world.alice.pk)]


# --- transfers in the ledger history -------------------------------------------------------------------------------


def test_the_item_page_and_member_history_show_a_transfer_with_both_parties(client, world, pins, carl):
    item = issue_to(world, world.bob_member, BOB_PIN, serial="AK-HIST-T")
    giver = handover.confirm(member=world.bob_member, pin=BOB_PIN, actor=world.frank, purpose="transfer")
    receiver = handover.confirm(member=carl, pin=CARL_PIN, actor=world.frank, purpose="transfer")
    services.transfer(item=item, to_member=carl, actor=world.frank, giver=giver, receiver=receiver)
    login(client, world.alice)
    item_page = client.get(reverse("item-page", args=[item.pk]))
    assert [event.kind for event in item_page.context["page_obj"]] == ["register", "issue", "transfer"]
    row = item_page.content.decode().split("handed over</span>")[1].split("</tr>")[0]
    assert world.bob_member.full_name in row and carl.full_name in row
    assert row.count("confirmed by PIN") == 2
    history = client.get(page_of(world.bob_member)).content.decode().split('data-testid="ledger-events"')[1]
    assert "handed over" in history and carl.full_name in history
    carls = client.get(page_of(carl)).content.decode()
    assert 'data-testid="holdings"' in carls and "AK-HIST-T" in carls


def test_the_holders_own_page_offers_hand_over_for_each_item(client, world, pins):
    first = issue_to(world, world.bob_member, BOB_PIN, serial="AK-MINE-1")
    second = issue_to(world, world.bob_member, BOB_PIN, serial="AK-MINE-2")
    html = login(client, world.bob).get(page_of(world.bob_member)).content.decode()
    for item in (first, second):
        assert f"{reverse('custody-transfer')}?serial={item.serial_number}&amp;item_type={item.item_type_id}" in html
    others = login(client, world.erin).get(page_of(world.bob_member)).content.decode()
    assert reverse("custody-transfer") not in others  # an auditor records no handovers


def test_the_item_page_offers_hand_over_to_its_holder_and_to_duty_officers(client, world, pins):
    item = issue_to(world, world.bob_member, BOB_PIN)
    link = f"{reverse('custody-transfer')}?serial={item.serial_number}"
    for who, shown in [("bob", True), ("frank", True), ("alice", True), ("erin", False), ("dave", False)]:
        html = login(client, getattr(world, who)).get(reverse("item-page", args=[item.pk])).content.decode()
        assert (link in html) == shown, who
