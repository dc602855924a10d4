"""The unit dashboard's web pages and the armory page's dashboard panels: numbers against the database, the chart,
who may see which unit, the home page and armory list showing the same numbers, the query counts, and the pages under
the Content Security Policy in a browser. The dashboard API is in test_dashboard_api, lot quantities in
test_dashboard_lots; the shared fixtures in dashboard_fixtures."""

import re
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.testing import make_member, make_unit
from muster.custody import counts, dashboard, losses, services
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent, LossCase
from muster.custody.testing import make_item
from muster.custody.tests.dashboard_fixtures import (
    _fill,
    _no_second_factor,  # noqa: F401 — the autouse fixture
    _queries,
    at,
    days_ago,
    staff_client,
    stocked_fixture,  # noqa: F401 — the `stocked` fixture
    workshop_fixture,  # noqa: F401 — the `workshop` fixture, which `stocked` asks for
)
from muster.custody.tests.test_browser import browser_page  # noqa: F401 — the shared Chromium fixture

pytestmark = pytest.mark.django_db


def test_it_counts_items_by_state_in_exclusive_buckets(client, world, stocked):
    response = staff_client(client, world.dave).get(reverse("unit-dashboard", args=["A"]))
    assert response.status_code == 200
    states = response.context["board"].states
    assert (states.total, states.in_armory, states.issued, states.in_maintenance, states.overdue, states.lost) == (
        7, 2, 1, 1, 1, 2,
    )  # fmt: skip
    assert states.held_by_members == Item.objects.filter(home_armory__unit=world.unit_a, holder_kind="member").count()
    html = response.content.decode()
    for key, number in {"total": 7, "in_armory": 2, "issued": 1, "in_maintenance": 1, "overdue": 1, "lost": 2}.items():
        assert f'data-state="{key}">{number}<' in html


def test_the_region_dashboard_adds_up_its_units(client, world, stocked):
    response = staff_client(client, world.rita).get(reverse("unit-dashboard", args=["R"]))
    board = response.context["board"]
    assert board.states.total == Item.objects.count() == 8
    assert board.states.issued == 2  # A's and B's
    by_code = {armory.code: armory.states for armory in board.armories}
    assert set(by_code) == {"ARM-A", "ARM-B", "WS-A"}
    assert by_code["ARM-B"].issued == 1 and by_code["ARM-A"].total == 7 and by_code["WS-A"].total == 0
    assert [unit.code for unit in response.context["sub_units"]] == ["A", "B"]


def test_it_lists_overdue_recalls_and_loss_cases_with_their_clocks(client, world, stocked):
    response = staff_client(client, world.alice).get(reverse("unit-dashboard", args=["A"]))
    board = response.context["board"]
    assert [item.serial_number for item in board.overdue] == ["A-overdue"]
    assert [recall.item.serial_number for recall in board.recalls] == ["A-overdue"]
    assert board.recalls[0].can_return  # alice is an armorer of A
    cases = LossCase.objects.filter(closed_at=None).order_by("deadline")
    assert [case.pk for case in board.loss_cases] == [case.pk for case in cases]
    assert board.loss_cases_total == 2
    html = response.content.decode()
    losses_card = html.split('data-testid="loss-cases"')[1].split("</table>")[0]
    clocks = re.findall(r'data-testid="deadline-clock">([^<]+)<', losses_card)
    assert clocks[0].startswith("overdue by") and clocks[1].endswith("left")  # the older case's deadline passed


def test_each_armory_shows_its_last_count_and_the_next_due(client, world, stocked):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    for item in Item.objects.filter(pk__in=count.expected):  # a clean count: every item expected on the shelf
        counts.scan(count=count, code=item.serial_number, actor=world.alice)
    counts.submit(count=count, actor=world.alice)
    counts.sign(count=count, actor=world.dave)
    count.refresh_from_db()
    board = staff_client(client, world.dave).get(reverse("unit-dashboard", args=["A"])).context["board"]
    by_code = {armory.code: armory for armory in board.armories}
    armory = by_code["ARM-A"]
    assert (armory.last_count_id, armory.last_count_at) == (count.pk, count.signed_at)
    assert armory.next_count_due == count.signed_at + timedelta(days=7)
    assert not armory.count_due
    workshop = by_code["WS-A"]
    assert workshop.last_count_at is None and workshop.count_due  # never counted: due now


def test_items_out_over_time_replays_the_ledger(client, world):
    """The series against a replay of every event: the number held by members at the end of each day."""
    paula = make_member(world.unit_a, first_name="Paula")
    with at(days_ago(45)):
        rifles = [make_item(world.armory_a, world.alice, serial=f"R{n}") for n in range(5)]
        services.issue(item=rifles[0], member=world.bob_member, actor=world.alice, due_at=days_ago(1))
    with at(days_ago(12)):
        services.issue(item=rifles[1], member=world.bob_member, actor=world.alice)
        services.issue(item=rifles[2], member=paula, actor=world.alice)
    with at(days_ago(12, hour=15)):
        services.return_item(item=rifles[2], actor=world.alice)
    with at(days_ago(5)):
        services.return_item(item=rifles[1], actor=world.alice)
        services.issue(item=rifles[3], member=paula, actor=world.alice)
    with at(days_ago(3)):
        losses.open_case(item=rifles[3], kind="lost", circumstances="Lost on patrol.", occurred_at=days_ago(4),
                         place="Sector 4", actor=world.alice)  # fmt: skip
    with at(days_ago(2)):
        case = LossCase.objects.get(item=rifles[3])
        losses.recover(case=case, armory=world.armory_a, actor=world.alice, notes="Found at the post.")
    services.issue(item=rifles[4], member=world.bob_member, actor=world.alice)
    make_item(world.armory_b, world.carol)  # another unit's item changes nothing here

    series = staff_client(client, world.alice).get(reverse("unit-dashboard", args=["A"])).context["board"].series
    assert len(series) == 30 and series[-1].day == timezone.localdate()
    events = list(LedgerEvent.objects.filter(item__home_armory=world.armory_a).order_by("recorded_at", "seq"))
    for point in series:
        end = timezone.make_aware(datetime.combine(point.day + timedelta(days=1), datetime.min.time()))
        holders = {}
        for event in events:
            if event.recorded_at < end:
                holders[event.item_id] = event.to_kind
        assert point.out == sum(kind == HolderKind.MEMBER for kind in holders.values()), point.day
    assert [point.out for point in series[-13:]] == [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2]


def test_the_chart_switches_to_90_days_and_draws_accessible_svg(client, world, stocked):
    staff_client(client, world.alice)
    response = client.get(reverse("unit-dashboard", args=["A"]), {"days": "90"})
    assert len(response.context["board"].series) == 90
    html = response.content.decode()
    chart = html.split('data-testid="items-out"')[1].split("</details>")[0]
    assert 'role="img"' in chart and '<title id="items-out-title">' in chart and '<desc id="items-out-desc">' in chart
    assert "style=" not in chart and "<script" not in chart  # the CSP allows neither
    assert 'aria-current="true">90 days<' in chart
    assert chart.count("<tr><td>") == 90  # the table fallback
    assert ">items out<" in chart and ">day<" in chart  # axis labels
    assert len(client.get(reverse("unit-dashboard", args=["A"]), {"days": "7"}).context["board"].series) == 30


@pytest.mark.parametrize(("who", "code", "status"), [
    ("alice", "A", 200), ("dave", "A", 200), ("erin", "A", 200), ("frank", "A", 200), ("rita", "B", 200),
    ("alice", "R", 404), ("alice", "B", 404), ("carol", "A", 404), ("bob", "A", 404), ("alice", "nope", 404),
])  # fmt: skip
def test_the_dashboard_is_for_staff_of_the_unit_or_above(client, world, who, code, status):
    assert staff_client(client, getattr(world, who)).get(reverse("unit-dashboard", args=[code])).status_code == status


def test_home_and_armory_pages_link_the_unit_dashboard(client, world):
    staff_client(client, world.alice)
    home = client.get(reverse("home"))
    assert [unit.code for unit in home.context["dashboard_units"]] == ["A"]
    assert reverse("unit-dashboard", args=["A"]) in home.content.decode()
    assert reverse("unit-dashboard", args=["A"]) in client.get(reverse("armory-page", args=["ARM-A"])).content.decode()
    staff_client(client, world.rita)
    assert [unit.code for unit in client.get(reverse("home")).context["dashboard_units"]] == ["R"]


def test_the_armory_page_shows_the_same_panels_for_one_armory(client, world, stocked):
    response = staff_client(client, world.alice).get(reverse("armory-page", args=["ARM-A"]))
    board = response.context["board"]
    unit_board = dashboard.unit_dashboard(world.unit_a)
    assert board.states == unit_board.by_armory[world.armory_a.pk]
    assert [item.serial_number for item in board.overdue] == ["A-overdue"]
    assert board.loss_cases_total == 2 and len(board.series) == 30
    html = response.content.decode()
    assert 'data-testid="count-panel"' in html and 'data-testid="items-out-chart"' in html
    assert 'data-testid="loss-cases"' in html and 'data-state="lost">2<' in html


@pytest.mark.parametrize("page", ["unit-dashboard", "armory-page", "api"])
def test_the_dashboard_query_count_does_not_grow_with_the_data(client, world, page):
    api = APIClient()
    api.force_authenticate(world.alice)
    staff_client(client, world.alice)
    fetch = {
        "unit-dashboard": lambda: client.get(reverse("unit-dashboard", args=["A"])),
        "armory-page": lambda: client.get(reverse("armory-page", args=["ARM-A"])),
        "api": lambda: api.get(reverse("api:unit-dashboard", args=["A"])),
    }[page]
    _fill(world, 4)
    fetch()  # warm the session and caches
    small = _queries(fetch)
    _fill(world, 12)
    assert _queries(fetch) == small


# --- the home page and the armory list show the dashboard's numbers --------------------------------------------------


def _shown(html: str, marker: str) -> dict[str, int]:
    """The numbers after `marker` in the page, by data-state: one armory's card or row."""
    block = html.split(marker, 1)[1]
    return {key: int(number) for key, number in re.findall(r'data-state="(\w+)">(?:<span[^>]*>)?(\d+)<', block)[:6]}


def test_the_home_page_and_the_armory_list_show_the_dashboards_five_states(client, world, stocked):
    unit_board = dashboard.unit_dashboard(world.unit_a)
    expected = unit_board.by_armory[world.armory_a.pk]
    staff_client(client, world.dave)
    home = client.get(reverse("home"))
    by_code = {armory.code: armory.states for armory in home.context["armories"]}
    assert by_code["ARM-A"] == expected and by_code["WS-A"] == dashboard.States()
    # The overdue item counts once, as overdue; the item lost while issued counts as lost: neither as issued.
    numbers = {"total": 7, "in_armory": 2, "issued": 1, "in_maintenance": 1, "overdue": 1, "lost": 2}
    card = _shown(home.content.decode(), f'href="{reverse("armory-page", args=["ARM-A"])}"')
    assert card == numbers
    assert home.context["overdue_total"] == unit_board.overdue_total == 1
    assert [item.serial_number for item in home.context["overdue"]] == ["A-overdue"]  # not the lost one
    listing = client.get(reverse("armory-index"))
    assert {armory.code: armory.states for armory in listing.context["armories"]}["ARM-A"] == expected
    row = _shown(listing.content.decode(), f'href="{reverse("armory-page", args=["ARM-A"])}"')
    assert row == numbers


def test_the_home_page_counts_from_the_tally_in_a_fixed_number_of_queries(client, world):
    staff_client(client, world.dave)
    _fill(world, 4)
    fetch = lambda: client.get(reverse("home"))  # noqa: E731
    fetch()
    small = _queries(fetch)
    _fill(world, 12)
    assert _queries(fetch) == small
    counted = CaptureQueriesContext(connection)
    with counted:
        fetch()
    # No query over the items table groups or counts every item: the states come from the tally.
    assert not [q["sql"] for q in counted.captured_queries if "COUNT(DISTINCT" in q["sql"].upper()]


# --- the badge sheet --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, shown", [("dave", True), ("alice", True), ("rita", True), ("erin", False),
                                        ("frank", False)])  # fmt: skip
def test_the_unit_dashboard_links_the_badge_sheet_for_commanders_and_armorers(client, world, who, shown):
    response = staff_client(client, getattr(world, who)).get(reverse("unit-dashboard", args=["A"]))
    link = reverse("unit-badges", args=["A"])
    assert (link in response.content.decode()) == shown
    if shown:  # and the link works for them
        pdf = client.get(link)
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"


def test_a_sub_unit_dashboard_counts_only_its_subtree(client, world):
    platoon = make_unit("A1", parent=world.unit_a)
    store = Armory.objects.create(code="ARM-A1", name="Platoon store", unit=platoon)
    make_item(store, world.alice)
    make_item(world.armory_a, world.alice)
    staff_client(client, world.alice)
    assert client.get(reverse("unit-dashboard", args=["A1"])).context["board"].states.total == 1
    response = client.get(reverse("unit-dashboard", args=["A"]))
    assert response.context["board"].states.total == 2
    assert reverse("unit-dashboard", args=["A1"]) in response.content.decode()


# --- in the browser, under the Content Security Policy ---------------------------------------------------------------


@pytest.mark.browser
def test_the_dashboard_pages_render_under_the_policy(live_server, browser_page, world, purged_ledger):  # noqa: F811
    from muster.core.testing import PASSWORD

    item = make_item(world.armory_a, world.alice, serial="AK-CHART")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    problems = []
    browser_page.on(
        "console",
        lambda message: (
            problems.append(f"{browser_page.url}: {message.text}")
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    browser_page.on("pageerror", lambda error: problems.append(str(error)))
    browser_page.goto(f"{live_server.url}/login/")
    browser_page.fill("input[name=username]", "alice")
    browser_page.fill("input[name=password]", PASSWORD)
    browser_page.click("button[type=submit]")
    browser_page.wait_for_url(f"{live_server.url}/")
    for path in ("/units/A/dashboard/", "/units/A/dashboard/?days=90", "/armories/ARM-A/", "/units/A/keys/"):
        browser_page.goto(f"{live_server.url}{path}")
        browser_page.wait_for_load_state("networkidle")
        if "keys" not in path:
            box = browser_page.locator("[data-testid=items-out-chart] polyline").bounding_box()
            assert box is not None and box["width"] > 300  # the line is drawn across the chart
    assert problems == [], "\n".join(problems)


def test_the_navbar_dashboard_link_goes_to_the_accounts_highest_unit(client, world):
    client.force_login(world.rita)  # armorer of the region
    response = client.get(reverse("my-dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("unit-dashboard", args=["R"])
    response = client.get(reverse("my-dashboard") + "?keys")
    assert response["Location"] == reverse("unit-keys", args=["R"])
    client.force_login(world.bob)
    assert client.get(reverse("my-dashboard")).status_code == 403
