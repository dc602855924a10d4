"""Ammunition and consumables, accounted by quantity per lot (issue #4 point 7; docs/ledger.md "Lots").

A lot's holdings are balances: so many rounds in this armory, so many with that member. They change only in the lot
services (custody.lots, custody.lot_losses), together with a `lot_*` ledger event that moves the quantity;
`muster ledger verify` replays those events and compares the sums with these rows. A balance can never go negative: a
check constraint refuses it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from muster.custody.models import Armory, HolderKind, ItemType
from muster.members.models import Member


class Lot(models.Model):
    """One manufacturer's lot of an ammunition or consumable type (e.g. 5.45×39 lot 7N6-1987-041)."""

    item_type = models.ForeignKey(ItemType, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=64)
    home_armory = models.ForeignKey(Armory, on_delete=models.PROTECT, related_name="lots")
    # The lot's number of ledger events; the next event for this lot must carry version + 1 (as for items).
    version = models.PositiveIntegerField(default=0, editable=False)
    recalled_at = models.DateTimeField(null=True, blank=True, editable=False)
    recalled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    recall_reason = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["item_type__name", "lot_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["item_type", "lot_number"],
                name="lot_number_unique_per_type",
                violation_error_message="A lot of this type with this number is already on the books.",
            ),
            models.CheckConstraint(
                condition=Q(recalled_at=None) | ~Q(recall_reason=""), name="lot_recall_has_a_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_type.name} lot {self.lot_number}"

    @property
    def is_recalled(self) -> bool:
        return self.recalled_at is not None


class LotBalance(models.Model):
    """How much of a lot one armory or one member holds. Written only by the lot services, beside a ledger event."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="balances")
    holder_kind = models.CharField(max_length=8, choices=HolderKind.choices)
    holder_armory = models.ForeignKey(Armory, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    holder_member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="lot_balances"
    )
    quantity = models.BigIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True, help_text="A member's: when the quantity is due back")

    class Meta:
        ordering = ["lot", "holder_kind"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0),
                name="lot_balance_never_negative",
                violation_error_message="A lot balance can never go below zero.",
            ),
            models.CheckConstraint(
                condition=Q(holder_kind="armory", holder_armory__isnull=False, holder_member=None, due_at=None)
                | Q(holder_kind="member", holder_member__isnull=False, holder_armory=None),
                name="lot_balance_has_one_holder",
            ),
            models.UniqueConstraint(
                fields=["lot", "holder_armory"], condition=Q(holder_kind="armory"), name="lot_balance_one_per_armory"
            ),
            models.UniqueConstraint(
                fields=["lot", "holder_member"], condition=Q(holder_kind="member"), name="lot_balance_one_per_member"
            ),
        ]
        indexes = [models.Index(fields=["holder_member", "quantity"])]

    def __str__(self) -> str:
        holder = self.holder_armory if self.holder_kind == HolderKind.ARMORY else self.holder_member
        return f"{self.quantity} of {self.lot} with {holder}"
