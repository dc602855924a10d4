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
