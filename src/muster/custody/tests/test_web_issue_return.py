"""The custody web face's issue and return counter forms: only an armorer may use them; an issue or a return through
the plain form (redirect to the confirmation) or through htmx (the panel and a fresh form) changes the holder and
writes one ledger event; every refusal shows its specific message and changes nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import services
from muster.custody.models import HolderKind, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.test_web import HTMX, ledger_state, login
from muster.members.models import Member

pytestmark = pytest.mark.django_db


# --- issue and return ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "dave", "erin", "frank"])
@pytest.mark.parametrize("name", ["custody-issue", "custody-return"])
def test_it_forbids_the_counter_forms_to_anyone_but_an_armorer(client, world, who, name):
    item = make_item(world.armory_a, world.alice)
    before = ledger_state()
    login(client, getattr(world, who))
    assert client.get(reverse(name)).status_code == 403
    assert client.post(reverse(name), {"serial": item.serial_number, "member_no": "x"}).status_code == 403
    assert ledger_state() == before


def test_it_prefills_the_issue_form_from_the_query_string(client, world):
    response = login(client, world.alice).get(reverse("custody-issue"), {"member": world.bob_member.member_no})
    assert response.status_code == 200
    assert response.context["form"]["member_no"].value() == world.bob_member.member_no
    assert "autofocus" in str(response.context["form"]["serial"])


def test_it_issues_through_the_plain_form_and_redirects_to_the_confirmation(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-0042")
    due = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    login(client, world.alice)
    response = client.post(
        reverse("custody-issue"),
        {"serial": "AK-0042", "member_no": world.bob_member.member_no, "due_at": due.strftime("%Y-%m-%dT%H:%M"),
         "reason": "range day"},
    )  # fmt: skip
    event = LedgerEvent.objects.get(item=item, kind="issue")
    assert response.status_code == 302
    assert response.url == f"{reverse('custody-issue')}?event={event.seq}"
    item.refresh_from_db()
    assert (item.holder_kind, item.holder_member, item.due_at) == (HolderKind.MEMBER, world.bob_member, due)
    assert (event.to_member, event.actor, event.reason) == (world.bob_member, world.alice, "range day")
    page = client.get(response.url)
    assert page.context["event"] == event
    assert event.hash[:12] in page.content.decode()


def test_it_issues_through_htmx_and_answers_with_the_panel_and_a_fresh_form(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-0043")
    login(client, world.alice)
    response = client.post(
        reverse("custody-issue"), {"serial": "AK-0043", "member_no": world.bob_member.member_no}, **HTMX
    )
    assert response.status_code == 200
    assert response.templates[0].name == "custody/_custody_panel.html"
    event = LedgerEvent.objects.get(item=item, kind="issue")
    html = response.content.decode()
    assert f"#{event.seq}" in html
    assert event.hash[:12] in html
    assert "<nav" not in html  # a fragment, not a page
    assert not response.context["form"].is_bound
    item.refresh_from_db()
    assert item.holder_member == world.bob_member


def test_it_picks_the_item_type_when_a_serial_repeats_across_types(client, world):
    rifle = make_item(world.armory_a, world.alice, serial="X-1")
    radio = make_item(world.armory_a, world.alice, serial="X-1", item_type=make_item_type("Radio", category="radio"))
    login(client, world.alice)
    ambiguous = client.post(reverse("custody-issue"), {"serial": "X-1", "member_no": world.bob_member.member_no})
    assert ambiguous.status_code == 400
    assert "serial_ambiguous" in ambiguous.content.decode()
    response = client.post(
        reverse("custody-issue"),
        {"serial": "X-1", "item_type": radio.item_type_id, "member_no": world.bob_member.member_no},
    )
    assert response.status_code == 302
    radio.refresh_from_db()
    rifle.refresh_from_db()
    assert (radio.holder_kind, rifle.holder_kind) == (HolderKind.MEMBER, HolderKind.ARMORY)


def _refusal_cases(world):
    issued = make_item(world.armory_a, world.alice, serial="AK-TAKEN")
    services.issue(item=issued, member=make_member(world.unit_a), actor=world.alice)
    make_item(world.armory_a, world.alice, serial="AK-FREE")
    make_item(world.armory_b, world.carol, serial="AK-OF-B")
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    return {
        "already_issued": ({"serial": "AK-TAKEN", "member_no": world.bob_member.member_no}, 409, "item_not_in_armory"),
        "inactive_member": ({"serial": "AK-FREE", "member_no": suspended.member_no}, 409, "member_not_active"),
        "unknown_serial": ({"serial": "NOPE-1", "member_no": world.bob_member.member_no}, 404, "item_not_found"),
        "other_unit_item": ({"serial": "AK-OF-B", "member_no": world.bob_member.member_no}, 404, "item_not_found"),
        "other_unit_member": ({"serial": "AK-FREE", "member_no": world.member_b.member_no}, 404, "member_not_found"),
        "missing_member": ({"serial": "AK-FREE", "member_no": ""}, 400, None),
    }


@pytest.mark.parametrize(
    "case",
    ["already_issued", "inactive_member", "unknown_serial", "other_unit_item", "other_unit_member", "missing_member"],
)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_it_refuses_an_issue_with_the_specific_message_and_changes_nothing(client, world, case, headers):
    data, status, code = _refusal_cases(world)[case]
    before = ledger_state()
    response = login(client, world.alice).post(reverse("custody-issue"), data, **headers)
    assert response.status_code == status
    html = response.content.decode()
    if code:
        assert code in html
        assert response.context["form"].non_field_errors()
    else:
        assert response.context["form"].errors["member_no"]
    assert ledger_state() == before


def test_it_refuses_an_overdue_due_back_time_in_the_past(client, world):
    make_item(world.armory_a, world.alice, serial="AK-PAST")
    before = ledger_state()
    past = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = login(client, world.alice).post(
        reverse("custody-issue"), {"serial": "AK-PAST", "member_no": world.bob_member.member_no, "due_at": past}
    )
    assert response.status_code == 400
    assert "The due-back time must be in the future." in response.content.decode()
    assert ledger_state() == before


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_it_takes_a_return_into_the_home_armory(client, world, headers):
    item = make_item(world.armory_a, world.alice, serial="AK-BACK")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    response = login(client, world.alice).post(
        reverse("custody-return"), {"serial": "AK-BACK", "reason": "end of shift"}, **headers
    )
    event = LedgerEvent.objects.get(item=item, kind="return")
    assert response.status_code == (200 if headers else 302)
    if headers:
        assert f"#{event.seq}" in response.content.decode()
    item.refresh_from_db()
    assert (item.holder_kind, item.holder_armory, item.holder_member) == (HolderKind.ARMORY, world.armory_a, None)
    assert (event.from_member, event.to_armory, event.reason) == (world.bob_member, world.armory_a, "end of shift")


def test_it_takes_a_return_into_a_named_armory(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-ELSEWHERE")
    services.issue(item=item, member=world.bob_member, actor=world.rita)
    response = login(client, world.rita).post(reverse("custody-return"), {"serial": "AK-ELSEWHERE", "armory": "ARM-B"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.holder_armory == world.armory_b


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({"serial": "AK-HOME"}, 409, "item_not_issued"),
        ({"serial": "NOPE-2"}, 404, "item_not_found"),
        ({"serial": "AK-OUT", "armory": "ARM-B"}, 404, "armory_not_found"),
        ({"serial": ""}, 400, None),
    ],
)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_it_refuses_a_return_with_the_specific_message_and_changes_nothing(client, world, data, status, code, headers):
    make_item(world.armory_a, world.alice, serial="AK-HOME")
    out = make_item(world.armory_a, world.alice, serial="AK-OUT")
    services.issue(item=out, member=world.bob_member, actor=world.alice)
    before = ledger_state()
    response = login(client, world.alice).post(reverse("custody-return"), data, **headers)
    assert response.status_code == status
    if code:
        assert code in response.content.decode()
    else:
        assert response.context["form"].errors["serial"]
    assert ledger_state() == before
