"""Counts of an armory: what the ledger says should be on the shelves against what was scanned, and the
discrepancies that must each be resolved before the count is signed."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from muster.custody.loss_models import LossCase
from muster.custody.models import Armory, Item


class CountPolicy(models.Model):
    """The count rules and their site defaults; a unit sets its own in its custody policy (custody.policy_models).

    Abstract: there is no table. Until 2026-12 an armory could carry its own row that overrode its unit's rules; it
    had no face and was removed (docs/decisions.md), so every armory follows its unit. The class stays as the one
    place the frequencies and the defaults are named.
    """

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"

    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.WEEKLY)
    counter_rotates = models.BooleanField(default=True, help_text="The counter is not who did the previous count")
    second_signature = models.BooleanField(default=True, help_text="A second person signs the result")

    class Meta:
        abstract = True


class Count(models.Model):
    class Status(models.TextChoices):
        DUE = "due", "Due (not started)"
        IN_PROGRESS = "in_progress", "Scanning"
        SUBMITTED = "submitted", "Submitted, awaiting second signature"
        CLOSED = "closed", "Signed"

    armory = models.ForeignKey(Armory, on_delete=models.PROTECT, related_name="counts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    reason = models.CharField(max_length=200, blank=True, help_text="e.g. scheduled, key handover")
    due_at = models.DateTimeField(null=True, blank=True)
    counter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    expected = models.JSONField(default=list, help_text="Item ids the ledger placed in the armory at the start")
    submitted_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_by__isnull=True) | ~Q(signed_by=F("counter")),
                name="count_second_signer_is_another_person",
            ),
            models.UniqueConstraint(
                fields=["armory"],
                condition=Q(status__in=["due", "in_progress", "submitted"]),
                name="count_one_open_per_armory",
            ),
        ]

    def __str__(self) -> str:
        return f"count of {self.armory.code} ({self.status})"


class CountScan(models.Model):
    count = models.ForeignKey(Count, on_delete=models.CASCADE, related_name="scans")
    code = models.CharField(max_length=80, help_text="What the scanner read")
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    scanned_at = models.DateTimeField()
    scanned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rescan = models.BooleanField(
        default=False, help_text="Scanned after submission: a missing item shown to be back on the shelf"
    )

    class Meta:
        ordering = ["scanned_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rescan=False) | Q(item__isnull=False, scanned_by__isnull=False),
                name="count_rescan_names_item_and_person",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} scanned in {self.count}"


class Discrepancy(models.Model):
    class Kind(models.TextChoices):
        MISSING = "missing", "Missing: on the books here, not scanned"
        UNEXPECTED = "unexpected", "Unexpected: scanned, but the books say it is issued"
        MISPLACED = "misplaced", "Misplaced: scanned here, belongs in another armory"
        DUPLICATE = "duplicate", "Scanned more than once"
        UNKNOWN = "unknown", "Scanned code matches no item"

    class Resolution(models.TextChoices):
        FOUND = "found", "Found / explained"
        LOSS_CASE = "loss_case", "Loss case opened"

    count = models.ForeignKey(Count, on_delete=models.CASCADE, related_name="discrepancies")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=80, blank=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    explanation = models.TextField(blank=True)
    loss_case = models.ForeignKey(LossCase, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    found_scan = models.ForeignKey(  # RESTRICT, not PROTECT: deleting a whole count takes both with it
        CountScan, null=True, blank=True, on_delete=models.RESTRICT, related_name="+",
        help_text="The re-scan that showed a missing item back on the shelf",
    )  # fmt: skip
    # Reminders of an unresolved discrepancy, each sent once (counts.remind_unresolved).
    armorers_reminded_at = models.DateTimeField(null=True, blank=True)
    commanders_reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolution="")
                | Q(resolution="found", loss_case__isnull=True)
                | Q(resolution="loss_case", loss_case__isnull=False),
                name="discrepancy_resolution_consistent",
            ),
            models.CheckConstraint(
                condition=Q(resolution="") | (~Q(explanation="") & Q(resolved_by__isnull=False)),
                name="discrepancy_resolution_explained",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} in {self.count}"
