from django.conf import settings
from django.db import models
from django.db.models import F, Q

from muster.members.models import Member, Unit
from muster.training.models import Qualification


class ItemType(models.Model):
    class Category(models.TextChoices):
        FIREARM = "firearm", "Firearm"
        COUNTER_DRONE = "counter_drone", "Counter-drone device"
        VEHICLE = "vehicle", "Vehicle"
        OPTICS = "optics", "Optics"
        RADIO = "radio", "Radio"
        KEY = "key", "Key"
        SEAL = "seal", "Seal"
        AMMUNITION = "ammunition", "Ammunition (by lot)"
        CONSUMABLE = "consumable", "Consumable (by lot)"
        OTHER = "other", "Other"

    name = models.CharField(max_length=120, unique=True, help_text="e.g. 'AK-74M assault rifle'")
    category = models.CharField(max_length=20, choices=Category.choices)
    model = models.CharField(max_length=120, blank=True)
    calibre = models.CharField(max_length=40, blank=True, help_text="Firearms only, e.g. 5.45×39 mm")
    default_loan_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Due-back period for an issue; empty means the site default"
    )
    inspection_interval_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Inspect items of this type at least this often; empty means no schedule"
    )
    required_qualifications = models.ManyToManyField(
        Qualification,
        blank=True,
        related_name="item_types",
        help_text="A member must hold all of these, valid until the due-back time, to draw an item of this type",
    )

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_by_lot(self) -> bool:
        """Ammunition and consumables are counted by quantity per lot, not by serial number."""
        return self.category in LOT_CATEGORIES


LOT_CATEGORIES = frozenset({"ammunition", "consumable"})
LOT_KINDS = ["lot_receive", "lot_issue", "lot_return", "lot_expend", "lot_loss", "lot_recover"]


class Armory(models.Model):
    """A storage location belonging to a unit: arms room, vehicle park, radio store."""

    class Kind(models.TextChoices):
        STORE = "store", "Arms room / store"
        WORKSHOP = "workshop", "Maintenance workshop"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="armories")
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.STORE,
        help_text="A workshop holds items sent for maintenance; nothing is issued from it",
    )
    address = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "armories"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class HolderKind(models.TextChoices):
    ARMORY = "armory", "Armory"
    MEMBER = "member", "Member"


class Item(models.Model):
    """A controlled item. Its holder columns change only in custody.services, together with a ledger event."""

    class Condition(models.TextChoices):
        SERVICEABLE = "serviceable", "Serviceable"
        NEEDS_REPAIR = "needs_repair", "Needs repair"
        UNSERVICEABLE = "unserviceable", "Unserviceable"

    item_type = models.ForeignKey(ItemType, on_delete=models.PROTECT, related_name="items")
    serial_number = models.CharField(max_length=64)
    home_armory = models.ForeignKey(Armory, on_delete=models.PROTECT, related_name="home_items")
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.SERVICEABLE)
    manufacturer = models.CharField(max_length=120, blank=True)
    year_of_manufacture = models.PositiveSmallIntegerField(null=True, blank=True)
    markings = models.CharField(max_length=200, blank=True, help_text="Other markings, e.g. inventory number")
    last_inspected_on = models.DateField(null=True, blank=True)
    opens_armory = models.ForeignKey(
        Armory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="keys",
        help_text="For keys and seals: the armory this opens. Handing it to a new holder triggers a count there.",
    )
    notes = models.TextField(blank=True)

    holder_kind = models.CharField(max_length=8, choices=HolderKind.choices, editable=False)
    holder_armory = models.ForeignKey(
        Armory, null=True, blank=True, on_delete=models.PROTECT, related_name="held_items", editable=False
    )
    holder_member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="held_items", editable=False
    )
    due_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The item's number of ledger events; the next event for this item must carry custody_version + 1.
    custody_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["item_type__name", "serial_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["item_type", "serial_number"],
                name="item_serial_unique_per_type",
                violation_error_message="An item of this type with this serial number is already registered.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        holder_kind="armory",
                        holder_armory__isnull=False,
                        holder_member__isnull=True,
                        due_at=None,
                    )
                    | Q(holder_kind="member", holder_member__isnull=False, holder_armory__isnull=True)
                ),
                name="item_has_exactly_one_holder",
                violation_error_message="An item is held by exactly one armory or one member.",
            ),
        ]
        indexes = [
            models.Index(fields=["serial_number"]),
            models.Index(fields=["holder_kind", "due_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.item_type.name} #{self.serial_number}"

    @property
    def holder(self) -> Armory | Member:
        return self.holder_armory if self.holder_kind == HolderKind.ARMORY else self.holder_member

    @property
    def is_issued(self) -> bool:
        return self.holder_kind == HolderKind.MEMBER


class LedgerEvent(models.Model):
    """One custody event. Append-only (database triggers refuse UPDATE and DELETE), hash-chained by `seq`.

    docs/ledger.md specifies the canonical encoding that `hash` covers.
    """

    class Kind(models.TextChoices):
        REGISTER = "register", "Registered"
        ISSUE = "issue", "Issued"
        RETURN = "return", "Returned"
        TRANSFER = "transfer", "Transferred"
        MAINTENANCE_OUT = "maintenance_out", "Sent for maintenance"
        MAINTENANCE_IN = "maintenance_in", "Back from maintenance"
        LOSS = "loss", "Reported lost"
        RECOVER = "recover", "Recovered"
        # Ammunition and consumables: a quantity of one lot moves (docs/ledger.md, "Lots").
        LOT_RECEIVE = "lot_receive", "Lot received"
        LOT_ISSUE = "lot_issue", "Lot quantity issued"
        LOT_RETURN = "lot_return", "Lot quantity returned"
        LOT_EXPEND = "lot_expend", "Lot quantity expended"
        LOT_LOSS = "lot_loss", "Lot quantity lost"
        LOT_RECOVER = "lot_recover", "Lot quantity recovered"

    seq = models.BigIntegerField(primary_key=True)
    recorded_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # An event moves either one serialized item or a quantity of one lot; `item_version` is the item's or the lot's.
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    lot = models.ForeignKey("Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    quantity = models.PositiveIntegerField(null=True, blank=True)
    item_version = models.PositiveIntegerField()
    # NULL, not "", for "no holder": the check constraints and triggers compare holders with IS.
    from_kind = models.CharField(max_length=8, choices=HolderKind.choices, null=True, blank=True)  # noqa: DJ001
    from_armory = models.ForeignKey(Armory, null=True, on_delete=models.PROTECT, related_name="+")
    from_member = models.ForeignKey(Member, null=True, on_delete=models.PROTECT, related_name="events_from")
    to_kind = models.CharField(max_length=8, choices=HolderKind.choices, null=True, blank=True)  # noqa: DJ001
    to_armory = models.ForeignKey(Armory, null=True, on_delete=models.PROTECT, related_name="+")
    to_member = models.ForeignKey(Member, null=True, on_delete=models.PROTECT, related_name="events_to")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="custody_events")
    reason = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "item_version"],
                name="ledger_one_event_per_item_version",
                violation_error_message="Another custody change of this item was recorded first.",
            ),
            models.UniqueConstraint(
                fields=["lot", "item_version"],
                condition=Q(lot__isnull=False),
                name="ledger_one_event_per_lot_version",
                violation_error_message="Another movement of this lot was recorded first.",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_seq_positive"),
            # Item kinds move one item; lot kinds move a positive quantity of one lot.
            models.CheckConstraint(
                condition=Q(kind__in=LOT_KINDS, item=None, lot__isnull=False, quantity__gt=0)
                | (~Q(kind__in=LOT_KINDS) & Q(item__isnull=False, lot=None, quantity=None)),
                name="ledger_moves_an_item_or_a_lot_quantity",
            ),
            models.CheckConstraint(
                condition=(
                    Q(from_kind=None, from_armory=None, from_member=None)
                    | Q(from_kind="armory", from_armory__isnull=False, from_member=None)
                    | Q(from_kind="member", from_member__isnull=False, from_armory=None)
                )
                & (
                    Q(to_kind="armory", to_armory__isnull=False, to_member=None)
                    | Q(to_kind="member", to_member__isnull=False, to_armory=None)
                    # Expended or lost quantities leave the books.
                    | Q(kind__in=["lot_expend", "lot_loss"], to_kind=None, to_armory=None, to_member=None)
                ),
                name="ledger_holders_well_formed",
            ),
            # Each kind moves custody in one direction only; a second issue of an issued item would need
            # from_kind="member", which no issue event may carry.
            models.CheckConstraint(
                condition=(
                    Q(kind="register", from_kind=None, to_kind="armory", item_version=1)
                    | Q(kind="issue", from_kind="armory", to_kind="member", item_version__gt=1)
                    | Q(kind="return", from_kind="member", to_kind="armory", item_version__gt=1)
                    | (
                        Q(kind="transfer", from_kind="member", to_kind="member", item_version__gt=1)
                        & ~Q(from_member=F("to_member"))
                    )
                    # A loss stays with the last custodian on the books; a recovery brings it into an armory.
                    | (
                        Q(kind="loss", item_version__gt=1, from_kind=F("to_kind"))
                        & (Q(from_armory=F("to_armory")) | Q(from_member=F("to_member")))
                    )
                    | Q(kind="recover", from_kind__isnull=False, to_kind="armory", item_version__gt=1)
                    | (
                        Q(
                            kind__in=["maintenance_out", "maintenance_in"],
                            from_kind="armory",
                            to_kind="armory",
                            item_version__gt=1,
                        )
                        & ~Q(from_armory=F("to_armory"))
                    )
                    # Lots: a delivery or a recovery comes from outside the books; the first event is a delivery.
                    | Q(kind="lot_receive", from_kind=None, to_kind="armory")
                    | Q(kind="lot_issue", from_kind="armory", to_kind="member", item_version__gt=1)
                    | Q(kind="lot_return", from_kind="member", to_kind="armory", item_version__gt=1)
                    | Q(kind__in=["lot_expend", "lot_loss"], from_kind__isnull=False, to_kind=None, item_version__gt=1)
                    | Q(kind="lot_recover", from_kind=None, to_kind="armory", item_version__gt=1)
                ),
                name="ledger_kind_moves_custody_one_way",
            ),
        ]
        indexes = [
            models.Index(fields=["from_member", "seq"]),
            models.Index(fields=["to_member", "seq"]),
            models.Index(fields=["recorded_at"]),
        ]

    def __str__(self) -> str:
        if self.lot_id:
            return f"#{self.seq} {self.kind} {self.quantity} of lot {self.lot_id}"
        return f"#{self.seq} {self.kind} item {self.item_id}"


class LedgerHead(models.Model):
    """The single row every custody write locks, so sequence numbers are handed out one at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ledger_head_single_row")]

    def __str__(self) -> str:
        return f"ledger head #{self.seq} {self.hash[:12]}"


class Recall(models.Model):
    """An issued item whose holder may no longer hold it. Open until the item comes back (its return event)."""

    class Reason(models.TextChoices):
        SUSPENDED = "member_suspended", "Member suspended"
        DEPARTED = "member_departed", "Member departed"
        NOT_ACTIVE = "member_not_active", "Member no longer active"
        VETTING_EXPIRED = "vetting_expired", "Vetting expired"
        QUALIFICATION_EXPIRED = "qualification_expired", "Qualification expired"

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="recalls")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="recalls")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    detail = models.CharField(max_length=300)
    raised_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_event = models.ForeignKey(
        LedgerEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="resolved_recalls"
    )

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"],
                condition=Q(resolved_at__isnull=True),
                name="recall_one_open_per_item",
                violation_error_message="This item already has an open recall.",
            )
        ]

    def __str__(self) -> str:
        return f"recall of {self.item} from {self.member}: {self.get_reason_display()}"


class LedgerCheckpoint(models.Model):
    """An Ed25519 signature over (ledger size, head hash, time), made on a schedule and on demand.

    Copies exported to files kept off the server let anyone prove later that the first `size` events were not
    rewritten or truncated (docs/ledger.md).
    """

    size = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=16, help_text="First 16 hex digits of SHA-256 over the public key")
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-size", "-created_at"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"checkpoint {self.size} @ {self.head_hash[:12]} ({self.created_at:%Y-%m-%d %H:%M})"


class HandoverPin(models.Model):
    """A member's personal PIN for confirming handovers at the counter. Only a hash is stored."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="handover_pin")
    pin_hash = models.CharField(max_length=256)
    set_at = models.DateTimeField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    failures = models.PositiveSmallIntegerField(default=0, help_text="Wrong PINs in a row")
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"handover PIN of {self.member}"


class HandoverAttempt(models.Model):
    """Every PIN entry, right or wrong: who typed it for whom, and for what."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="handover_attempts")
    at = models.DateTimeField()
    succeeded = models.BooleanField()
    purpose = models.CharField(max_length=32)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["member", "at"])]

    def __str__(self) -> str:
        return f"{'ok' if self.succeeded else 'failed'} PIN for {self.member} at {self.at:%Y-%m-%d %H:%M}"


from muster.custody.count_models import Count, CountPolicy, CountScan, Discrepancy  # noqa: E402, F401 (one app, two files)
from muster.custody.loss_models import LossCase, LotOverdueNotice, OverdueNotice  # noqa: E402, F401
from muster.custody.lot_models import Lot, LotBalance  # noqa: E402, F401
from muster.custody.policy_models import UnitPolicy  # noqa: E402, F401
from muster.custody.tally_models import ArmoryDayNet, ArmoryTally, DayNetCounted  # noqa: E402, F401
