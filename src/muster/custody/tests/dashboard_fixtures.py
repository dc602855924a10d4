"""Helpers shared by the dashboard tests (test_dashboard, test_dashboard_api, test_dashboard_lots): a clock to stand
at, staff signed in without a second factor, a unit stocked with an item in every state, and data for every panel
with a query counter.

Fixtures are defined under their pytest name with a `_fixture` function name, so a test module imports the function
(`from ... import stocked_fixture  # noqa: F401`) and asks for `stocked` without shadowing the import. A module that
imports `stocked_fixture` imports `workshop_fixture` too (stocked asks for the workshop), and every dashboard test
module imports the autouse `_no_second_factor`."""

from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import losses, maintenance, recalls, services
from muster.custody.models import Armory, Item, Recall
from muster.custody.testing import make_item


@contextmanager
def at(moment: datetime):
    """Everything inside happens at `moment` as far as the services and the ledger can tell."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def days_ago(days: int, hour: int = 10) -> datetime:
    # The real clock, not timezone.now(), which at() may be standing in for.
    base = datetime.now(tz=timezone.get_current_timezone()) - timedelta(days=days)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _no_second_factor(settings):
    # Two-factor sign-in is another feature's business; these tests sign staff in with force_login.
    settings.MUSTER_REQUIRE_TOTP = False


@pytest.fixture(name="workshop")
def workshop_fixture(world):
    return Armory.objects.create(code="WS-A", name="Workshop A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


@pytest.fixture(name="stocked")
def stocked_fixture(world, workshop):
    """Unit A: two in the armory, one issued, one overdue (and recalled), one in maintenance, one lost while issued,
    one lost from the shelf; unit B: one issued (only the region sees it)."""
    start = days_ago(20)
    with at(start):
        items = {name: make_item(world.armory_a, world.alice, serial=f"A-{name}") for name in
                 ("kept1", "kept2", "issued", "overdue", "repair", "lost_out", "lost_in")}  # fmt: skip
        b_item = make_item(world.armory_b, world.carol, serial="B-out")
    with at(days_ago(10)):
        services.issue(item=items["overdue"], member=world.bob_member, actor=world.alice, due_at=days_ago(9))
        # Another holder: an open loss case freezes its last custodian's further issues.
        services.issue(item=items["lost_out"], member=make_member(world.unit_a), actor=world.alice)
    with at(days_ago(3)):
        losses.open_case(item=items["lost_out"], kind="lost", circumstances="Dropped.", occurred_at=days_ago(4),
                         place="Range", actor=world.alice)  # fmt: skip
    services.issue(item=items["issued"], member=world.bob_member, actor=world.alice)
    services.issue(item=b_item, member=world.member_b, actor=world.carol)
    maintenance.send(item=items["repair"], workshop=workshop, actor=world.alice, reason="Sights loose")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    losses.open_case(item=items["lost_in"], kind="stolen", circumstances="Gone from the rack.",
                     occurred_at=an_hour_ago, place="Arms room A", actor=world.alice)  # fmt: skip
    overdue = Item.objects.get(pk=items["overdue"].pk)
    recalls.raise_recall(item=overdue, reason=Recall.Reason.VETTING_EXPIRED, detail="vetting ran out")
    return items


def staff_client(client, account):
    client.force_login(account)
    return client


def _fill(world, n: int) -> None:
    """n items of A with issues, returns, an overdue one, a recall, a loss case, and n overdue quantities of a lot:
    something in every panel."""
    from muster.custody import lots
    from muster.custody.testing import make_lot

    member = make_member(world.unit_a)
    lot = make_lot(world.armory_a, world.alice, quantity=1000)
    with at(days_ago(8)):
        for _ in range(n):
            lots.issue(lot=lot, member=make_member(world.unit_a), quantity=3, actor=world.alice, due_at=days_ago(6))
    with at(days_ago(8)):
        items = [make_item(world.armory_a, world.alice) for _ in range(n)]
        for item in items[: n // 2]:
            services.issue(item=item, member=member, actor=world.alice, due_at=days_ago(6))
    with at(days_ago(4)):
        services.return_item(item=items[0], actor=world.alice)
        losses.open_case(item=items[-1], kind="lost", circumstances="Gone.", occurred_at=days_ago(5), place="Range",
                         actor=world.alice)  # fmt: skip
    recalls.raise_recall(item=Item.objects.get(pk=items[1].pk), reason=Recall.Reason.DEPARTED, detail="left")
    Armory.objects.create(code=f"ST-{Armory.objects.count()}", name="Store", unit=world.unit_a)


def _queries(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert fetch().status_code == 200
    return len(captured)
