"""The custody web face, continued: recall lists, the issue form's commander override, the overrides report and
its downloads, and the item type admin's required qualifications."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from muster.core.testing import PASSWORD, make_account, make_member
from muster.custody import recalls, services
from muster.custody.models import LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.test_web import HTMX, ledger_state, login
from muster.members.models import Account, Member, Role
from muster.training.testing import make_qualification

pytestmark = pytest.mark.django_db


# --- recall lists --------------------------------------------------------------------------------------------------


def _recalled(world, member=None, *, serial=""):
    """An item issued to `member` with an open recall against it."""
    item = make_item(world.armory_a, world.alice, serial=serial)
    services.issue(item=item, member=member or world.bob_member, actor=world.alice)
    item.refresh_from_db()
    return recalls.raise_recall(item=item, reason="member_suspended", detail=f"{item.holder_member} suspended")


def test_the_dashboard_and_armory_page_list_open_recalls_with_a_prefilled_return(client, world):
    recall = _recalled(world, serial="AK-RECALL")
    kept = make_item(world.armory_a, world.alice, serial="AK-FINE")
    services.issue(item=kept, member=world.bob_member, actor=world.alice)
    login(client, world.alice)
    for url in [reverse("home"), reverse("armory-page", args=["ARM-A"])]:
        response = client.get(url)
        assert [r.pk for r in response.context["recalls"]] == [recall.pk]
        card = response.content.decode().split('data-testid="recalls"')[1].split("</table>")[0]
        assert "AK-RECALL" in card and "AK-FINE" not in card
        assert world.bob_member.phone not in card  # an armorer works without members' phones (docs/privacy.md)
        assert "Member suspended" in card
        assert response.context["recalls_total"] == 1
        assert 'data-testid="recalls-total">1<' in card
        assert f"{reverse('custody-return')}?serial=AK-RECALL&amp;item_type={recall.item.item_type_id}" in card
    prefilled = client.get(reverse("custody-return"), {"serial": "AK-RECALL", "reason": "Recall: Member suspended"})
    assert prefilled.context["form"]["reason"].value() == "Recall: Member suspended"


def test_a_returned_item_leaves_the_recall_list(client, world):
    recall = _recalled(world, serial="AK-BACK-RECALL")
    login(client, world.alice)
    client.post(reverse("custody-return"), {"serial": "AK-BACK-RECALL"})
    recall.refresh_from_db()
    assert recall.resolved_at is not None
    assert client.get(reverse("home")).context["recalls"] == []


def test_recall_lists_are_scoped_and_return_buttons_only_for_armorers(client, world):
    _recalled(world, serial="AK-SCOPED")
    login(client, world.carol)
    assert client.get(reverse("home")).context["recalls"] == []
    login(client, world.erin)  # an auditor sees the recall but takes nothing back
    response = client.get(reverse("home"))
    (row,) = response.context["recalls"]
    assert not row.can_return
    assert f"{reverse('custody-return')}?serial=AK-SCOPED" not in response.content.decode()
    login(client, world.bob)
    response = client.get(reverse("home"))
    assert "recalls" not in response.context
    assert 'data-testid="recalls"' not in response.content.decode()


@pytest.mark.parametrize("url", [reverse("home"), reverse("armory-page", args=["ARM-A"])])
def test_the_recall_list_query_count_does_not_grow_with_its_rows(client, world, url):
    login(client, world.alice)

    def add(count):
        for _ in range(count):
            _recalled(world, make_member(world.unit_a))

    add(5)
    client.get(url)  # the first view of the day counts the chart's past days once (custody.tallies' day-net cache)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(url).context["recalls"]) == 5
    add(35)
    with CaptureQueriesContext(connection) as forty:
        response = client.get(url)
    assert len(response.context["recalls"]) == (20 if url == reverse("home") else 40)
    assert len(forty) == len(five)


# --- issue with a commander's override ----------------------------------------------------------------------------


@pytest.fixture
def guarded_rifle(world):
    """A rifle whose type requires a qualification bob does not hold."""
    item_type = make_item_type("AK-12 rifle")
    item_type.required_qualifications.add(make_qualification("rifle-ak", name="Rifle (AK)"))
    return make_item(world.armory_a, world.alice, item_type=item_type, serial="AK12-001")


def _issue_data(world, **override):
    data = {"serial": "AK12-001", "member_no": world.bob_member.member_no}
    data.update({f"override_{key}": value for key, value in override.items()})
    return data


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_refusal_a_commander_may_override_offers_the_countersign(client, world, guarded_rifle, headers):
    before = ledger_state()
    response = login(client, world.alice).post(reverse("custody-issue"), _issue_data(world), **headers)
    assert response.status_code == 409
    html = response.content.decode()
    assert "member_not_qualified" in html
    assert response.context["show_override"]
    assert "Override with commander's countersign" in html
    assert 'name="override_password"' in html
    assert ledger_state() == before


def test_a_commander_countersigns_with_their_password_and_the_issue_goes_ahead(client, world, guarded_rifle):
    response = login(client, world.alice).post(
        reverse("custody-issue"),
        _issue_data(world, commander="dave", password=PASSWORD, reason="range qualification tomorrow, supervised"),
    )
    assert response.status_code == 302
    event = LedgerEvent.objects.get(item=guarded_rifle, kind="issue")
    assert event.data["override"] == {
        "commander": world.dave.pk,
        "codes": ["member_not_qualified"],
        "reason": "range qualification tomorrow, supervised",
    }
    guarded_rifle.refresh_from_db()
    assert guarded_rifle.holder_member == world.bob_member
    assert client.session["_auth_user_id"] == str(world.alice.pk)  # the armorer stays logged in, not the commander


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"commander": "dave", "password": "wrong-password"}, 400, "override_not_authenticated"),
        ({"commander": "nobody", "password": PASSWORD}, 400, "override_not_authenticated"),
        ({"commander": "erin", "password": PASSWORD}, 403, "override_not_commander"),
        ({"commander": "dave", "password": PASSWORD, "reason": "short"}, 400, "override_reason_missing"),
    ],
)
def test_a_failed_countersign_changes_nothing_and_keeps_the_override_open(
    client, world, guarded_rifle, override, status, code
):
    override.setdefault("reason", "range qualification tomorrow, supervised")
    before = ledger_state()
    response = login(client, world.alice).post(reverse("custody-issue"), _issue_data(world, **override))
    assert response.status_code == status
    html = response.content.decode()
    assert code in html
    assert response.context["show_override"]
    assert PASSWORD not in html  # the password is never echoed back
    assert ledger_state() == before


def test_a_refusal_no_one_may_override_offers_no_countersign(client, world, guarded_rifle):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    before = ledger_state()
    login(client, world.alice)
    response = client.post(reverse("custody-issue"), {"serial": "AK12-001", "member_no": suspended.member_no})
    assert response.status_code == 409
    assert "member_not_active" in response.content.decode()
    assert not response.context["show_override"]
    assert 'name="override_password"' not in response.content.decode()
    # Even a forged countersign cannot push it through.
    forged = client.post(
        reverse("custody-issue"),
        {"serial": "AK12-001", "member_no": suspended.member_no, "override_commander": "dave",
         "override_password": PASSWORD, "override_reason": "please let it go through"},
    )  # fmt: skip
    assert forged.status_code == 409
    assert ledger_state() == before


# --- the overrides report ------------------------------------------------------------------------------------------


@pytest.fixture
def overridden(world, guarded_rifle):
    evil = make_member(world.unit_a, first_name="=HYPERLINK(1)", last_name="Evil", vetted_days=0)
    return services.issue(
        item=guarded_rifle,
        member=evil,
        actor=world.alice,
        override=services.Override(commander=world.dave, reason="=cmd exercise tonight, supervised"),
    )


@pytest.mark.parametrize("who", ["dave", "erin"])
def test_commanders_and_auditors_read_the_overrides_report(client, world, overridden, who):
    plain = make_item(world.armory_a, world.alice, serial="AK-PLAIN")
    services.issue(item=plain, member=world.bob_member, actor=world.alice)
    response = login(client, getattr(world, who)).get(reverse("custody-overrides"))
    assert response.status_code == 200
    (event,) = response.context["page_obj"]
    assert (event.seq, event.commander, event.actor) == (overridden.seq, world.dave, world.alice)
    html = response.content.decode()
    assert "AK12-001" in html and "AK-PLAIN" not in html
    assert "member_not_qualified" in html and "member_vetting_expired" in html
    assert "=cmd exercise tonight, supervised" in html


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "frank", "rita"])
def test_the_overrides_report_is_forbidden_to_other_roles(client, world, overridden, who):
    assert login(client, getattr(world, who)).get(reverse("custody-overrides")).status_code == 403


def test_a_commander_of_another_unit_sees_no_overrides_of_this_one(client, world, overridden):
    bea = make_account("bea", roles=[(Role.COMMANDER, world.unit_b)])
    response = login(client, bea).get(reverse("custody-overrides"))
    assert response.status_code == 200
    assert list(response.context["page_obj"]) == []


def test_the_overrides_report_downloads_as_csv_and_xlsx_with_formulas_neutralised(client, world, overridden):
    login(client, world.erin)
    response = client.get(reverse("custody-overrides"), {"export": "csv"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="issue-overrides-')
    header, row = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header[:4] == ["Seq", "Time", "Item type", "Serial"]
    assert row[0] == str(overridden.seq)
    assert row[3] == "AK12-001"
    assert row[5] == "'=HYPERLINK(1) Evil"
    assert row[6:8] == ["alice", "dave"]
    assert row[8] == "member_not_qualified member_vetting_expired"
    assert row[9] == "'=cmd exercise tonight, supervised"
    workbook = client.get(reverse("custody-overrides"), {"export": "xlsx"})
    assert workbook["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet["D2"].value == "AK12-001"
    assert sheet["F2"].value == "'=HYPERLINK(1) Evil"
    assert sheet["J2"].value == "'=cmd exercise tonight, supervised"
    assert sheet["J2"].data_type == "s"


def test_the_admin_shows_an_item_types_required_qualifications(client, world, guarded_rifle):
    client.force_login(Account.objects.create_superuser("root", password="x" * 12))
    listing = client.get(reverse("admin:custody_itemtype_changelist"))
    assert "Rifle (AK)" in listing.content.decode()
    page = client.get(reverse("admin:custody_itemtype_change", args=[guarded_rifle.item_type_id]))
    assert 'name="required_qualifications"' in page.content.decode()
