"""Lot quantities on the unit dashboard (web and API): quantities overdue from members, in scope and gone once
returned, and the loss cases of lot quantities beside those of items."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.testing import make_member
from muster.custody.tests.dashboard_fixtures import (
    _no_second_factor,  # noqa: F401 — the autouse fixture
    at,
    days_ago,
    staff_client,
)

pytestmark = pytest.mark.django_db


# --- overdue lot quantities -------------------------------------------------------------------------------------------


@pytest.fixture
def late_lot(world):
    from muster.custody import lots
    from muster.custody.testing import make_lot

    lot = make_lot(world.armory_a, world.alice, quantity=500, number="7N6-LATE")
    with at(days_ago(3)):
        lots.issue(lot=lot, member=world.bob_member, quantity=40, actor=world.alice, due_at=days_ago(2))
    lots.issue(lot=lot, member=make_member(world.unit_a), quantity=5, actor=world.alice)  # not due yet
    b_lot = make_lot(world.armory_b, world.carol, number="7N6-B-LATE")
    with at(days_ago(3)):
        lots.issue(lot=b_lot, member=world.member_b, quantity=7, actor=world.carol, due_at=days_ago(2))
    return lot


def test_the_unit_dashboard_lists_overdue_lot_quantities(client, world, late_lot):
    response = staff_client(client, world.dave).get(reverse("unit-dashboard", args=["A"]))
    board = response.context["board"]
    assert [(b.lot.lot_number, b.holder_member, b.quantity) for b in board.overdue_lots] == [
        ("7N6-LATE", world.bob_member, 40)
    ]  # fmt: skip
    assert board.overdue_lots_total == 1
    html = response.content.decode()
    table = html.split('data-testid="overdue-lots"')[1].split("</table>")[0]
    assert "7N6-LATE" in table and world.bob_member.full_name in table and "late)" in table
    assert "7N6-B-LATE" not in html
    armory_page = client.get(reverse("armory-page", args=["ARM-A"]))
    assert armory_page.context["board"].overdue_lots_total == 1
    assert 'data-testid="overdue-lots"' in armory_page.content.decode()
    region = staff_client(client, world.rita).get(reverse("unit-dashboard", args=["R"])).context["board"]
    assert sorted(b.lot.lot_number for b in region.overdue_lots) == ["7N6-B-LATE", "7N6-LATE"]


def test_the_api_lists_overdue_lot_quantities_of_the_unit(world, late_lot):
    api = APIClient()
    api.force_authenticate(world.dave)
    body = api.get(reverse("api:unit-dashboard", args=["A"])).json()
    assert body["overdue_lots_total"] == 1
    rows = [(row["lot_number"], row["member"], row["quantity"], row["home_armory"]) for row in body["overdue_lots"]]
    assert rows == [("7N6-LATE", world.bob_member.member_no, 40, "ARM-A")]


def test_a_returned_lot_quantity_is_no_longer_overdue(client, world, late_lot):
    from muster.custody import lots

    lots.return_quantity(lot=late_lot, member=world.bob_member, quantity=40, actor=world.alice)
    board = staff_client(client, world.dave).get(reverse("unit-dashboard", args=["A"])).context["board"]
    assert (board.overdue_lots, board.overdue_lots_total) == ([], 0)


# --- loss cases of lot quantities -------------------------------------------------------------------------------------


def test_loss_cases_of_lot_quantities_are_listed_too(client, world):
    from muster.custody import lot_losses
    from muster.custody.testing import make_lot

    lot = make_lot(world.armory_a, world.alice, quantity=500, number="7N6-041")
    case = lot_losses.report_loss(
        lot=lot, quantity=30, kind="lost", circumstances="Box missing.", place="Range", armory=world.armory_a,
        occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice,
    )  # fmt: skip
    make_lot(world.armory_b, world.carol, number="7N6-B")
    staff_client(client, world.alice)
    response = client.get(reverse("unit-dashboard", args=["A"]))
    board = response.context["board"]
    assert [c.pk for c in board.loss_cases] == [case.pk] and board.states.lost == 0  # a lot is not an item
    assert "lot 7N6-041" in response.content.decode()
    api = APIClient()
    api.force_authenticate(world.alice)
    (row,) = api.get(reverse("api:unit-dashboard", args=["A"])).json()["loss_cases"]
    assert (row["item"], row["lot_number"], row["quantity"], row["home_armory"]) == (None, "7N6-041", 30, "ARM-A")
