"""The custody web face: armory, workshop and item pages, the member page's custody section, and the admin's limits.

The issue and return counter forms are in test_web_issue_return; HTMX, login and ledger_state here are shared with
them and with the other web tests."""

from datetime import timedelta

import pytest
from django.contrib.admin.sites import site as admin_site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import losses, maintenance, services
from muster.custody.models import Armory, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Account

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(client, account):
    client.force_login(account)
    return client


def custody_section(response):
    """The member page's custody block (other apps add sections of their own)."""
    (section,) = [s for s in response.context["sections"] if s.template == "custody/_member_section.html"]
    return section


def ledger_state():
    """Everything a refused request must leave untouched."""
    return (
        LedgerEvent.objects.count(),
        list(Item.objects.order_by("pk").values_list("pk", "holder_kind", "holder_member_id", "holder_armory_id")),
    )


# --- pages ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/armories/", "/armories/ARM-A/", "/custody/issue/", "/custody/return/"],
)
def test_it_sends_anonymous_visitors_to_the_login_page(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_sends_anonymous_visitors_of_an_item_to_the_login_page(client, world):
    item = make_item(world.armory_a, world.alice)
    response = client.get(reverse("item-page", args=[item.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank", "rita"])
def test_it_lists_the_armories_of_the_staff_members_units(client, world, who):
    make_item(world.armory_a, world.alice)
    response = login(client, getattr(world, who)).get(reverse("armory-index"))
    assert response.status_code == 200
    codes = [armory.code for armory in response.context["armories"]]
    assert "ARM-A" in codes
    assert ("ARM-B" in codes) == (who == "rita")
    assert response.context["armories"][0].states.in_armory == 1


def test_it_forbids_the_armory_list_to_a_plain_member(client, world):
    assert login(client, world.bob).get(reverse("armory-index")).status_code == 403


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank", "rita"])
def test_it_shows_an_armory_with_its_items_and_holders(client, world, who):
    kept = make_item(world.armory_a, world.alice, serial="AK-KEPT")
    issued = make_item(world.armory_a, world.alice, serial="AK-OUT")
    services.issue(item=issued, member=world.bob_member, actor=world.alice)
    response = login(client, getattr(world, who)).get(reverse("armory-page", args=["ARM-A"]))
    assert response.status_code == 200
    assert {item.pk for item in response.context["page_obj"]} == {kept.pk, issued.pk}
    html = response.content.decode()
    assert "AK-OUT" in html
    assert reverse("member-page", args=[world.bob_member.member_no]) in html
    assert response.context["board"].states.issued == 1


def test_it_filters_an_armory_by_serial_and_state(client, world):
    make_item(world.armory_a, world.alice, serial="AK-1111")
    issued = make_item(world.armory_a, world.alice, serial="AK-2222")
    services.issue(item=issued, member=world.bob_member, actor=world.alice)
    login(client, world.alice)
    by_serial = client.get(reverse("armory-page", args=["ARM-A"]), {"q": "1111"})
    assert [item.serial_number for item in by_serial.context["page_obj"]] == ["AK-1111"]
    by_state = client.get(reverse("armory-page", args=["ARM-A"]), {"state": "issued"})
    assert [item.serial_number for item in by_state.context["page_obj"]] == ["AK-2222"]


@pytest.mark.parametrize(("who", "code"), [("alice", "ARM-B"), ("carol", "ARM-A"), ("bob", "ARM-A")])
def test_it_answers_404_for_an_armory_outside_the_accounts_units(client, world, who, code):
    assert login(client, getattr(world, who)).get(reverse("armory-page", args=[code])).status_code == 404


def test_it_shows_an_item_with_its_ledger_history(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-HIST")
    event = services.issue(item=item, member=world.bob_member, actor=world.alice, reason="night patrol")
    response = login(client, world.erin).get(reverse("item-page", args=[item.pk]))
    assert response.status_code == 200
    assert [e.kind for e in response.context["page_obj"]] == ["register", "issue"]
    html = response.content.decode()
    assert "night patrol" in html
    assert event.hash[:12] in html


def test_it_answers_404_for_an_item_of_another_unit(client, world):
    item_b = make_item(world.armory_b, world.carol)
    assert login(client, world.alice).get(reverse("item-page", args=[item_b.pk])).status_code == 404


def test_a_member_sees_the_item_they_hold_but_not_one_in_the_armory(client, world):
    held = make_item(world.armory_a, world.alice)
    services.issue(item=held, member=world.bob_member, actor=world.alice)
    stored = make_item(world.armory_a, world.alice)
    login(client, world.bob)
    response = client.get(reverse("item-page", args=[held.pk]))
    assert response.status_code == 200
    # The member sees their own issue event, not the armory's register event.
    assert [e.kind for e in response.context["page_obj"]] == ["issue"]
    assert client.get(reverse("item-page", args=[stored.pk])).status_code == 404


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Workshop A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


def test_a_workshops_page_lists_the_items_in_the_workshop(client, world, workshop):
    sent = make_item(world.armory_a, world.alice, serial="AK-REPAIR")
    maintenance.send(item=sent, workshop=workshop, actor=world.alice, reason="Sights loose")
    make_item(world.armory_a, world.alice, serial="AK-SHELF")
    response = login(client, world.alice).get(reverse("armory-page", args=["WS-A"]))
    assert response.status_code == 200
    assert [item.serial_number for item in response.context["page_obj"]] == ["AK-REPAIR"]
    assert response.context["held"] == {"held": 1, "foreign": 1}
    html = response.content.decode()
    scope_line = html.split('data-testid="items-scope">')[1].split("</div>")[0]
    assert "What is in the workshop now" in scope_line
    row = html.split('data-testid="items"')[1].split("</table>")[0]
    assert "AK-REPAIR" in row and 'data-testid="home-elsewhere"' in row and "ARM-A" in row
    assert 'data-state="in_maintenance"' in row
    assert "Holds <strong>1</strong> item now, 1 of them homed in other armories." in html
    assert 'data-testid="states"' not in html  # a workshop homes nothing: no panel of zeros
    for page in ("home", "armory-index"):  # and the overviews say what the workshop holds
        overview = client.get(reverse(page))
        assert {a.code: a.held_now for a in overview.context["armories"]} == {"ARM-A": 1, "WS-A": 1}
        assert "holds 1 item for maintenance now" in overview.content.decode()


def test_a_stores_page_lists_its_own_items_and_those_of_other_armories_it_holds(client, world, workshop):
    second = Armory.objects.create(code="ARM-A2", name="Second store", unit=world.unit_a)
    visitor = make_item(second, world.alice, serial="AK-VISITOR")
    services.issue(item=visitor, member=world.bob_member, actor=world.alice)
    services.return_item(item=visitor, actor=world.alice, armory=world.armory_a)  # returned to another store of A
    away = make_item(world.armory_a, world.alice, serial="AK-AWAY")
    maintenance.send(item=away, workshop=workshop, actor=world.alice, reason="Bolt sticks")
    make_item(world.armory_a, world.alice, serial="AK-HOME")
    make_item(second, world.alice, serial="AK-ONLY-A2")
    response = login(client, world.dave).get(reverse("armory-page", args=["ARM-A"]))
    listed = {item.serial_number: item.home_armory.code for item in response.context["page_obj"]}
    assert listed == {"AK-VISITOR": "ARM-A2", "AK-AWAY": "ARM-A", "AK-HOME": "ARM-A"}
    assert response.context["held"] == {"held": 2, "foreign": 1}  # AK-HOME and AK-VISITOR are on its shelves
    assert response.context["board"].states.total == 2  # the states count what is homed here: AK-AWAY, AK-HOME
    html = response.content.decode()
    assert "and the items of other armories this arms room / store holds now" in html
    assert html.count('data-testid="home-elsewhere"') == 1
    labels = client.get(reverse("armory-labels", args=["ARM-A"]))  # the label sheet prints what the page lists
    assert labels.status_code == 200 and labels.content.count(b"/Subtype /Image") == 3


def test_an_item_with_an_open_damaged_case_shows_the_case_and_offers_no_issue(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-BENT")
    case = losses.open_case(item=item, kind="damaged", circumstances="Barrel bent in a fall.", place="Range",
                            occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice)  # fmt: skip
    response = login(client, world.alice).get(reverse("item-page", args=[item.pk]))
    html = response.content.decode()
    heading = html.split('class="h3 page-title"')[1].split("</h1>")[0]
    assert "damaged" in heading and "in armory" not in heading
    assert f"{reverse('custody-issue')}?serial=" not in html  # no Issue button ...
    now = timezone.now()  # ... as the gate refuses it
    stored = Item.objects.get(pk=item.pk)
    refusals = services.gate(item=stored, member=world.bob_member, due_at=now + timedelta(hours=4), now=now)
    assert [refusal.code for refusal in refusals] == ["item_lost"]
    assert 'data-testid="damaged-case"' in html and f"loss case #{case.pk} open" in html
    assert reverse("loss-page", args=[case.pk]) in html
    shelf = client.get(reverse("armory-page", args=["ARM-A"])).content.decode().split('data-testid="items"')[1]
    assert 'data-state="lost"' in shelf and 'data-state="in_armory"' not in shelf


def test_an_item_in_maintenance_offers_no_issue_either(client, world, workshop):
    item = make_item(world.armory_a, world.alice, serial="AK-IN-WS")
    maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="Sights loose")
    html = login(client, world.alice).get(reverse("item-page", args=[item.pk])).content.decode()
    assert f"{reverse('custody-issue')}?serial=" not in html
    assert "Not issued from here: In maintenance at Workshop A." in html
    serviceable = make_item(world.armory_a, world.alice, serial="AK-READY")
    html = client.get(reverse("item-page", args=[serviceable.pk])).content.decode()
    assert f"{reverse('custody-issue')}?serial=AK-READY" in html and 'data-testid="not-issuable"' not in html


def test_a_lost_item_shows_as_reported_lost_on_the_member_page_without_return_or_hand_over(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-GONE")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    losses.open_case(item=item, kind="lost", circumstances="Not back from patrol.", place="Sector 2",
                     occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice)  # fmt: skip
    html = login(client, world.alice).get(reverse("member-page", args=[world.bob_member.member_no])).content.decode()
    holdings = html.split('data-testid="holdings"')[1].split("</table>")[0]
    assert "AK-GONE" in holdings and "reported lost" in holdings and 'data-state="issued"' not in holdings
    assert reverse("custody-return") not in holdings and reverse("custody-transfer") not in holdings


def _fill_armory(world, count):
    item_type = make_item_type()
    members = [make_member(world.unit_a) for _ in range(3)]
    for number in range(count):
        item = make_item(world.armory_a, world.alice, item_type=item_type)
        if number % 2:
            services.issue(item=item, member=members[number % 3], actor=world.alice)


def test_the_armory_page_query_count_does_not_grow_with_its_rows(client, world):
    login(client, world.alice)
    url = reverse("armory-page", args=["ARM-A"])
    _fill_armory(world, 5)
    client.get(url)  # the first view of the day counts the chart's past days once (custody.tallies' day-net cache)
    with CaptureQueriesContext(connection) as five:
        assert client.get(url).status_code == 200
    _fill_armory(world, 35)
    with CaptureQueriesContext(connection) as forty:
        response = client.get(url)
    assert len(response.context["page_obj"]) == 40
    assert len(forty) == len(five)


# --- the member page's custody section --------------------------------------------------------------------------


def test_a_member_sees_what_they_hold_and_their_own_history_on_their_page(client, world):
    item = make_item(world.armory_a, world.alice, serial="AK-BOB")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    other = make_item(world.armory_a, world.alice, serial="AK-ALICE")
    services.issue(item=other, member=make_member(world.unit_a), actor=world.alice)
    response = login(client, world.bob).get(reverse("member-page", args=[world.bob_member.member_no]))
    custody = custody_section(response)
    assert [held.pk for held in custody.context["holdings"]] == [item.pk]
    assert [event.kind for event in custody.context["page_obj"]] == ["issue"]
    html = response.content.decode()
    assert "AK-BOB" in html
    assert "AK-ALICE" not in html
    assert reverse("custody-return") not in html  # no counter buttons for a plain member


def test_the_member_page_shows_holdings_and_history_newest_first(client, world):
    first = make_item(world.armory_a, world.alice, serial="AK-FIRST")
    second = make_item(world.armory_a, world.alice, serial="AK-SECOND")
    services.issue(item=first, member=world.bob_member, actor=world.alice)
    services.return_item(item=first, actor=world.alice, reason="done")
    services.issue(item=second, member=world.bob_member, actor=world.alice)
    client.force_login(world.alice)
    response = client.get(reverse("member-page", args=[world.bob_member.member_no]))
    custody = custody_section(response)
    assert [item.serial_number for item in custody.context["holdings"]] == ["AK-SECOND"]
    expected = list(
        LedgerEvent.objects.filter(kind__in=["issue", "return"]).order_by("-seq").values_list("seq", flat=True)
    )
    assert [event.seq for event in custody.context["page_obj"]] == expected
    html = response.content.decode()
    assert "Issue to this member" in html
    assert f"{reverse('custody-issue')}?member={world.bob_member.member_no}" in html


def _give_history(world, member, count):
    for _ in range(count):
        item = make_item(world.armory_a, world.alice)
        services.issue(item=item, member=member, actor=world.alice)


def test_the_member_page_query_count_does_not_grow_with_its_rows(client, world):
    client.force_login(world.alice)
    url = reverse("member-page", args=[world.bob_member.member_no])
    _give_history(world, world.bob_member, 5)
    with CaptureQueriesContext(connection) as five:
        assert client.get(url).status_code == 200
    _give_history(world, world.bob_member, 35)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    custody = custody_section(response)
    assert len(custody.context["holdings"]) == 40
    assert len(custody.context["page_obj"]) == 25  # a full page of history
    assert len(many) == len(five)


# --- admin ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_request(rf, world):
    superuser = Account.objects.create_superuser("root", password="x" * 12)
    request = rf.get("/admin/")
    request.user = superuser
    return request


def test_the_admin_cannot_add_or_delete_items(admin_request, world, client):
    item = make_item(world.armory_a, world.alice)
    item_admin = admin_site._registry[Item]
    assert not item_admin.has_add_permission(admin_request)
    assert not item_admin.has_delete_permission(admin_request, item)
    assert {"holder_kind", "holder_member", "holder_armory", "due_at"} <= set(item_admin.readonly_fields)
    client.force_login(admin_request.user)
    assert client.get(reverse("admin:custody_item_add")).status_code == 403
    assert client.get(reverse("admin:custody_item_change", args=[item.pk])).status_code == 200


def test_the_admin_shows_the_ledger_read_only(admin_request, world, client):
    item = make_item(world.armory_a, world.alice)
    event = LedgerEvent.objects.get(item=item)
    event_admin = admin_site._registry[LedgerEvent]
    assert not event_admin.has_add_permission(admin_request)
    assert not event_admin.has_change_permission(admin_request, event)
    assert not event_admin.has_delete_permission(admin_request, event)
    client.force_login(admin_request.user)
    assert client.get(reverse("admin:custody_ledgerevent_changelist")).status_code == 200
    assert client.post(reverse("admin:custody_ledgerevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert LedgerEvent.objects.filter(pk=event.pk).exists()


def test_the_ledger_head_is_not_in_the_admin():
    from muster.custody.models import LedgerHead

    assert LedgerHead not in admin_site._registry


def test_the_admin_lists_reference_data_items_and_the_ledger(admin_request, world, client):
    item = make_item(world.armory_a, world.alice)
    client.force_login(admin_request.user)
    for name in ["custody_itemtype", "custody_armory", "custody_item", "custody_ledgerevent"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    event = LedgerEvent.objects.get(item=item)
    assert client.get(reverse("admin:custody_ledgerevent_change", args=[event.pk])).status_code == 200  # view only
