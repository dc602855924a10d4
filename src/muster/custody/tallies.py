"""Item counts per home armory and holder, read from the trigger-kept tally (custody.tally_models)."""

from django.db import connection
from django.db.models import Count

from muster.custody import triggers
from muster.custody.models import HolderKind, Item
from muster.custody.tally_models import ArmoryTally


def rebuild() -> None:
    """Recount the tally from the items table: after a bulk load that ran with the triggers off."""
    triggers.rebuild_tally(connection)


def counted() -> dict[tuple[int, str, int], int]:
    """(home armory, holder kind, holder armory or 0) → items, counted from the items table."""
    rows = (
        Item.objects.values_list("home_armory_id", "holder_kind", "holder_armory_id").annotate(n=Count("pk")).order_by()
    )
    return {(home, kind, holder or 0): n for home, kind, holder, n in rows}


def drift() -> str:
    """Where the tally disagrees with the items table, as one sentence; "" when it agrees."""
    kept = {
        (home, kind, holder): n
        for home, kind, holder, n in ArmoryTally.objects.filter(items__gt=0).values_list(
            "home_armory_id", "holder_kind", "holder_armory_id", "items"
        )
    }
    actual = counted()
    for key in sorted(set(kept) | set(actual)):
        if kept.get(key, 0) != actual.get(key, 0):
            home, kind, holder = key
            who = f"armory {holder}" if kind == HolderKind.ARMORY else "members"
            return (
                f"the armory tally says {kept.get(key, 0)} items of armory {home} are held by {who}, "
                f"the items table {actual.get(key, 0)}"
            )
    return ""
