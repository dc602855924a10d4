"""Access rows for lots of ammunition and consumables (web and API).

Objects: per unit a lot in its armory with some issued to the scope's member (bob in A, Boris in B), and a loss case
of a quantity lost from the armory's stock (not from the member, who would be frozen for the other rows).
"""

from datetime import timedelta

from django.utils import timezone

from muster.core.tests.access_table import (
    ARMORER_ACTION,
    ARMORERS,
    REPORTER_ACTION,
    SIGNED_IN,
    STAFF,
    UNIT_OBJECT,
    Expect,
    row,
    url,
)
from muster.custody import lot_losses, lots
from muster.custody.testing import make_lot

# anon bob alice dave frank erin; "own": unit A's lot, which bob holds some of; "other": unit B's.
LOT_PAGE = UNIT_OBJECT  # staff of the unit, and a member who holds some of it
LOT_ARMORERS = Expect("LFOFFF", "LNNNNN")  # the lot is looked up first (404), then the role on its unit (403)
LOT_REPORTERS = Expect("LFOOOF", "LNNNNN")
LOT_MANAGERS = Expect("LFOOFF", "LNNNNN")
CASE_ARMORERS = Expect("LNOFFF", "LNNNNN")  # a lot's loss case is staff-only: a member finds none
RECEIVE_WEB = Expect("LFOFFF", "LFRFFF")  # the form offers only the caller's stores: another unit's is invalid
LOT_MANAGER_ACTION = Expect("LFOOFF", "LFNNFF")


def receive_form(o):
    return {"item_type": o.lot.item_type_id, "lot_number": "MATRIX-NEW", "armory": o.armory.pk, "quantity": 5}


def receive_api(o):
    return {"item_type": o.lot.item_type_id, "lot_number": "MATRIX-NEW", "armory": o.armory.code, "quantity": 5}


def empty(o):
    return {}


LOT = "lot.pk"
CASE = "lot_case.pk"

ROWS = [
    # --- web
    row("lot-index", url("lot-index"), GET=STAFF),
    row("lot-receive", url("lot-receive"), GET=ARMORERS, POST=(RECEIVE_WEB, receive_form)),
    row("lot-page", url("lot-page", LOT), GET=LOT_PAGE),
    row("lot-issue", url("lot-issue", LOT), GET=LOT_ARMORERS, POST=(LOT_ARMORERS, empty)),
    row("lot-return", url("lot-return", LOT), GET=LOT_ARMORERS, POST=(LOT_ARMORERS, empty)),
    row("lot-settle", url("lot-settle", LOT), GET=LOT_ARMORERS, POST=(LOT_ARMORERS, empty)),
    row("lot-expend", url("lot-expend", LOT), GET=LOT_ARMORERS, POST=(LOT_ARMORERS, empty)),
    row("lot-loss", url("lot-loss", LOT), GET=LOT_REPORTERS, POST=(LOT_REPORTERS, empty)),
    row("lot-recall", url("lot-recall", LOT), GET=LOT_MANAGERS, POST=(LOT_MANAGERS, empty)),
    row("lot-recover", url("lot-recover", CASE), GET=CASE_ARMORERS, POST=(CASE_ARMORERS, empty)),
    # --- API: the role somewhere first (403), then the lot among the caller's (404)
    row("api:lot-list", url("api:lot-list"), GET=SIGNED_IN),
    row("api:lot-detail", url("api:lot-detail", LOT), GET=UNIT_OBJECT),
    row("api:lot-receive", url("api:lot-receive"), POST=(ARMORER_ACTION, receive_api)),
    row("api:lot-issue", url("api:lot-issue", LOT), POST=(ARMORER_ACTION, empty)),
    row("api:lot-return", url("api:lot-return", LOT), POST=(ARMORER_ACTION, empty)),
    row("api:lot-expend", url("api:lot-expend", LOT), POST=(ARMORER_ACTION, empty)),
    row("api:lot-settle", url("api:lot-settle", LOT), POST=(ARMORER_ACTION, empty)),
    row("api:lot-loss", url("api:lot-loss", LOT), POST=(REPORTER_ACTION, empty)),
    row("api:lot-recall", url("api:lot-recall", LOT), POST=(LOT_MANAGER_ACTION, empty)),
    row("api:loss-case-recover-lot", url("api:loss-case-recover-lot", CASE), POST=(ARMORER_ACTION, empty)),
]


def _lot_objects(*, armory, armorer, member, number: str) -> dict:
    lot = make_lot(armory, armorer, quantity=500, number=number)
    lots.issue(lot=lot, member=member, quantity=40, actor=armorer, due_at=timezone.now() + timedelta(days=2))
    case = lot_losses.report_loss(
        lot=lot, armory=armory, quantity=10, kind="lost", circumstances="Short at the count.", place="Store",
        occurred_at=timezone.now() - timedelta(hours=1), actor=armorer,
    )  # fmt: skip
    return {"lot": lot, "lot_case": case}


def build(world, objects) -> None:
    own = _lot_objects(armory=world.armory_a, armorer=world.alice, member=world.bob_member, number="MATRIX-A")
    other = _lot_objects(armory=world.armory_b, armorer=world.carol, member=world.member_b, number="MATRIX-B")
    for scope, made in (("own", own), ("peer", own), ("other", other)):
        for name, value in made.items():
            setattr(objects[scope], name, value)
