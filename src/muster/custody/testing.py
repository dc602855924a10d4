"""Test helpers for custody: a world with armories and items, and a ledger purge for transactional tests."""

from django.db import connection

from muster.custody import services, triggers
from muster.custody.ledger import GENESIS_HASH
from muster.custody.models import (
    Armory,
    ArmoryDayNet,
    ArmoryTally,
    DayNetCounted,
    Item,
    ItemType,
    LedgerEvent,
    LedgerHead,
    Lot,
    LotBalance,
)
from muster.members.models import Account

_serials = iter(range(10_000, 10_000_000))


def make_item_type(name: str = "AK-74M assault rifle", *, category: str = ItemType.Category.FIREARM) -> ItemType:
    item_type, _ = ItemType.objects.get_or_create(
        name=name, defaults={"category": category, "model": name.split()[0], "calibre": "5.45×39 mm"}
    )
    return item_type


def make_item(armory: Armory, actor: Account, *, item_type: ItemType | None = None, serial: str = "") -> Item:
    return services.register_item(
        item_type=item_type or make_item_type(),
        serial_number=serial or f"SN{next(_serials)}",
        home_armory=armory,
        actor=actor,
        manufacturer="Izhmash",
        year_of_manufacture=1991,
    )


def make_lot(armory: Armory, actor: Account, *, quantity: int = 1000, number: str = "", name: str = "") -> Lot:
    """A lot of 5.45×39 rounds received into `armory` (a `lot_receive` event)."""
    from muster.custody import lots

    item_type = make_item_type(name or "5.45×39 mm ball", category=ItemType.Category.AMMUNITION)
    number = number or f"LOT-{next(_serials)}"
    lots.receive(item_type=item_type, lot_number=number, armory=armory, quantity=quantity, actor=actor)
    return Lot.objects.get(item_type=item_type, lot_number=number)


def purge_ledger() -> None:
    """Empty the custody tables, which the append-only triggers otherwise forbid. Tests only."""
    triggers.uninstall(connection)
    try:
        # Rows that point at ledger events go first (they protect them).
        from muster.custody.models import Count, LossCase, OverdueNotice, Recall

        Count.objects.all().delete()  # with its scans and discrepancies
        LossCase.objects.all().delete()
        Recall.objects.all().delete()
        OverdueNotice.objects.all().delete()
        LedgerEvent.objects.all().delete()
        Item.objects.all().delete()
        LotBalance.objects.all().delete()
        Lot.objects.all().delete()
        ArmoryTally.objects.all().delete()  # its triggers are off with the others
        ArmoryDayNet.objects.all().delete()  # counted from the events just deleted
        DayNetCounted.objects.all().delete()
        LedgerHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
    finally:
        triggers.install(connection)
