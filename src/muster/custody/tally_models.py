"""How many items of each home armory each holder has, kept by database triggers (custody.triggers).

A dashboard over a region or a country reads these few rows per armory instead of counting a million items. The
triggers on the items table add and subtract one on every insert, holder change and delete, in the same
transaction, so the tally is never stale; `muster ledger verify` recounts it from the items table
(custody.tallies.drift) and `custody.tallies.rebuild` refills it after a bulk load with the triggers off.
"""

from django.db import models
from django.db.models import Q


class ArmoryTally(models.Model):
    home_armory = models.ForeignKey("custody.Armory", on_delete=models.CASCADE, related_name="+")
    holder_kind = models.CharField(max_length=8)
    # The holding armory's id; 0 for members, so that the unique key has no NULL in it (NULLs never collide).
    holder_armory_id = models.BigIntegerField()
    items = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["home_armory", "holder_kind", "holder_armory_id"], name="armory_tally_one_row_per_holder"
            ),
            models.CheckConstraint(condition=Q(items__gte=0), name="armory_tally_not_negative"),
        ]

    def __str__(self) -> str:
        return f"armory {self.home_armory_id}: {self.items} held by {self.holder_kind} {self.holder_armory_id}"


class ArmoryDayNet(models.Model):
    """How many more items of a home armory members held at the end of a past day than at its start (issues and
    recoveries from members minus returns), for the dashboard's chart. Days before today never change (the ledger
    is append-only), so each is counted once from the ledger and kept (custody.tallies.day_nets)."""

    home_armory = models.ForeignKey("custody.Armory", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    net = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["home_armory", "day"], name="armory_day_net_once")]
        indexes = [models.Index(fields=["day", "home_armory"], name="armory_day_net_by_day")]

    def __str__(self) -> str:
        return f"armory {self.home_armory_id} on {self.day}: {self.net:+d}"


class DayNetCounted(models.Model):
    """A past day whose nets are counted for every armory (a day with no row in ArmoryDayNet for an armory: net 0),
    in the time zone whose midnights bound it."""

    day = models.DateField()
    zone = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "zone"], name="day_net_counted_once")]

    def __str__(self) -> str:
        return f"{self.day} ({self.zone})"
