"""The unit dashboard through the API: the same numbers and series as the web page, scoped to the caller's units
(else 404), only the chart lengths it draws, and the item list's ?state= filter finding exactly the items each of
the dashboard's numbers counts."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from muster.custody import dashboard
from muster.custody.tests.dashboard_fixtures import (
    _no_second_factor,  # noqa: F401 — the autouse fixture
    stocked_fixture,  # noqa: F401 — the `stocked` fixture
    workshop_fixture,  # noqa: F401 — the `workshop` fixture, which `stocked` asks for
)

pytestmark = pytest.mark.django_db


# --- the item list's state filter ------------------------------------------------------------------------------------


def test_the_item_lists_state_filter_finds_the_dashboards_items(world, stocked):
    """?state= on the item list takes the dashboard's five states and finds exactly the items each number counts."""
    api = APIClient()
    api.force_authenticate(world.dave)
    found = {
        state: sorted(row["serial_number"] for row in api.get("/api/v1/items/", {"state": state}).json()["results"])
        for state in dashboard.STATE_NAMES
    }
    assert found == {
        "in_armory": ["A-kept1", "A-kept2"], "issued": ["A-issued"], "in_maintenance": ["A-repair"],
        "overdue": ["A-overdue"], "lost": ["A-lost_in", "A-lost_out"],
    }  # fmt: skip
    board = dashboard.unit_dashboard(world.unit_a)
    assert {state: len(serials) for state, serials in found.items()} == {
        state: getattr(board.states, state) for state in dashboard.STATE_NAMES
    }


# --- the dashboard endpoint ------------------------------------------------------------------------------------------


def test_the_api_returns_the_same_numbers_and_series(client, world, stocked):
    api = APIClient()
    api.force_authenticate(world.dave)
    body = api.get(reverse("api:unit-dashboard", args=["A"]), {"days": "90"}).json()
    board = dashboard.unit_dashboard(world.unit_a, days=90)
    assert body["unit"]["code"] == "A" and body["days"] == 90
    assert body["states"] == {"total": 7, "in_armory": 2, "issued": 1, "in_maintenance": 1, "overdue": 1, "lost": 2,
                              "held_by_members": 3}  # fmt: skip
    assert [(p["date"], p["out"]) for p in body["items_out"]] == [(p.day.isoformat(), p.out) for p in board.series]
    assert [row["serial_number"] for row in body["overdue"]] == ["A-overdue"] and body["overdue_total"] == 1
    assert body["overdue"][0]["member"] == world.bob_member.member_no
    assert body["recalls_total"] == 1 and body["recalls"][0]["item"]["serial_number"] == "A-overdue"
    cases = {row["item"]["serial_number"]: row for row in body["loss_cases"]}
    assert cases["A-lost_out"]["seconds_to_deadline"] < 0 < cases["A-lost_in"]["seconds_to_deadline"]
    armories = {row["code"]: row for row in body["armories"]}
    assert armories["WS-A"]["kind"] == "workshop" and armories["WS-A"]["count_due"] is True
    assert armories["ARM-A"]["states"]["lost"] == 2 and armories["ARM-A"]["open_count"] is None


@pytest.mark.parametrize(("who", "code", "status", "error"), [
    ("bob", "A", 404, "unit_not_found"), ("carol", "A", 404, "unit_not_found"), ("alice", "R", 404, "unit_not_found"),
    ("alice", "A", 200, None),
])  # fmt: skip
def test_the_api_answers_404_outside_the_callers_units(world, who, code, status, error):
    api = APIClient()
    api.force_authenticate(getattr(world, who))
    response = api.get(reverse("api:unit-dashboard", args=[code]))
    assert response.status_code == status
    assert error is None or response.json()["code"] == error


def test_the_api_refuses_a_chart_length_it_does_not_draw(world):
    api = APIClient()
    api.force_authenticate(world.alice)
    response = api.get(reverse("api:unit-dashboard", args=["A"]), {"days": "7"})
    assert (response.status_code, response.json()["code"]) == (400, "days_invalid")
    assert APIClient().get(reverse("api:unit-dashboard", args=["A"])).status_code == 401
