"""Loss cases and overdue notices: what the custody clocks chase once an item or a lot quantity is not where it
should be. A case is opened and closed only in custody.losses and custody.lot_losses; the notices are written only
by custody.overdue, one per escalation level and due-back time.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from muster.custody.models import Armory, Item, LedgerEvent
from muster.members.models import Member


class LossCase(models.Model):
    """A controlled item lost, stolen, damaged beyond use, or unaccounted for — chased on a clock.

    Opening a case writes a `loss` ledger event (the item stays on the books with its last custodian) and freezes
    that custodian's further issues; the case must be reported to the authorities before its deadline or it is
    escalated; recovery writes a `recover` event returning the item to an armory and closes the case.
    """

    class Kind(models.TextChoices):
        LOST = "lost", "Lost"
        STOLEN = "stolen", "Stolen"
        DAMAGED = "damaged", "Damaged beyond use"
        UNACCOUNTED = "unaccounted", "Unaccounted for (count discrepancy)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ESCALATED = "escalated", "Escalated (deadline passed)"
        RECOVERED = "recovered", "Recovered"

    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="loss_cases")
    # Or a quantity of a lot that was neither returned nor accounted as expended.
    lot = models.ForeignKey("Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="loss_cases")
    quantity = models.PositiveIntegerField(null=True, blank=True)
    recovered_quantity = models.PositiveIntegerField(default=0, help_text="Of a lot quantity: how much came back")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    last_member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loss_cases",
        help_text="The last custodian when a member held it; frozen until the case closes",
    )
    last_armory = models.ForeignKey(Armory, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    circumstances = models.TextField()
    occurred_at = models.DateTimeField(help_text="When it happened, as far as known")
    place = models.CharField(max_length=300)
    police_report_no = models.CharField(max_length=64, blank=True)
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_event = models.ForeignKey(LedgerEvent, on_delete=models.PROTECT, related_name="+")
    deadline = models.DateTimeField(help_text="Report to the authorities before this")
    authorities_notified_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_event = models.ForeignKey(LedgerEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recovery_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"],
                condition=Q(closed_at__isnull=True),
                name="loss_case_one_open_per_item",
                violation_error_message="This item already has an open loss case.",
            ),
            models.CheckConstraint(
                condition=Q(item__isnull=False, lot=None, quantity=None)
                | Q(item=None, lot__isnull=False, quantity__gt=0),
                name="loss_case_of_an_item_or_a_lot_quantity",
            ),
            models.CheckConstraint(
                condition=Q(last_member__isnull=False, last_armory__isnull=True)
                | Q(last_member__isnull=True, last_armory__isnull=False),
                name="loss_case_names_one_custodian",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(status="recovered", closed_event__isnull=False),
                name="loss_case_closed_by_recovery",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject} (case {self.pk}, {self.status})"

    @property
    def subject(self) -> str:
        """What was lost: the item, or the quantity of the lot."""
        return str(self.item) if self.item_id else f"{self.quantity} × {self.lot}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class OverdueNotice(models.Model):
    """Which overdue escalations were sent, so each goes out once per issue (its due-back time)."""

    class Level(models.TextChoices):
        ARMORER = "armorer", "Armorers notified"
        COMMANDER = "commander", "Commanders notified"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="overdue_notices")
    due_at = models.DateTimeField()
    level = models.CharField(max_length=16, choices=Level.choices)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "due_at", "level"], name="overdue_notice_once_per_level")
        ]

    def __str__(self) -> str:
        return f"{self.item} overdue since {self.due_at:%Y-%m-%d %H:%M}: {self.level}"


class LotOverdueNotice(models.Model):
    """Which overdue escalations were sent for a member's quantity of a lot, so each goes out once per due-back time
    of the balance (a later issue of the same lot moves it, and starts a new clock), as OverdueNotice for items."""

    balance = models.ForeignKey("custody.LotBalance", on_delete=models.CASCADE, related_name="overdue_notices")
    due_at = models.DateTimeField()
    level = models.CharField(max_length=16, choices=OverdueNotice.Level.choices)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["balance", "due_at", "level"], name="lot_overdue_notice_once_per_level")
        ]

    def __str__(self) -> str:
        return f"lot balance {self.balance_id} overdue since {self.due_at:%Y-%m-%d %H:%M}: {self.level}"
