"""Per-unit custody policy: what is in force for a unit, and the one service that changes a unit's own settings.

A unit's setting applies to it and every unit below it, until a unit lower down sets its own; a setting nobody in
the chain sets comes from the site (settings.MUSTER_*, or the count defaults). Units carry a materialised path, so
the whole chain is one query.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from muster.core import audit, changelog
from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotFound, NotPermitted
from muster.custody.count_models import CountPolicy
from muster.custody.policy_models import UnitPolicy
from muster.members import scope
from muster.members.models import Account, Role, Unit

HOUR_FIELDS = ("default_loan_hours", "loss_report_hours", "overdue_escalation_hours")
YES_NO_FIELDS = ("counter_rotates", "second_signature")
FIELDS = (*HOUR_FIELDS, *YES_NO_FIELDS, "count_frequency")
# The smallest value each hours field takes (0 for escalation: tell the commanders at once), and a sane ceiling.
MIN_HOURS = {"default_loan_hours": 1, "loss_report_hours": 1, "overdue_escalation_hours": 0}
MAX_HOURS = 24 * 366
AUDIT_KIND = "policy_changed"


def site_defaults() -> dict:
    """What applies where no unit in the chain sets a value (read at call time: tests and deployments change it)."""
    return {
        "default_loan_hours": settings.MUSTER_DEFAULT_LOAN_HOURS,
        "loss_report_hours": settings.MUSTER_LOSS_REPORT_HOURS,
        "overdue_escalation_hours": settings.MUSTER_OVERDUE_ESCALATION_HOURS,
        "counter_rotates": CountPolicy._meta.get_field("counter_rotates").default,
        "second_signature": CountPolicy._meta.get_field("second_signature").default,
        "count_frequency": CountPolicy._meta.get_field("frequency").default,
    }


@dataclass(frozen=True)
class EffectivePolicy:
    """The rules in force for one unit. `sources[name]` is the unit whose policy sets it, None for the site."""

    default_loan_hours: int
    loss_report_hours: int
    overdue_escalation_hours: int
    counter_rotates: bool
    second_signature: bool
    count_frequency: str
    sources: dict = field(default_factory=dict, compare=False, repr=False)


def _chain_ids(unit: Unit) -> list[int]:
    return [int(part) for part in unit.path.strip("/").split("/") if part]


def _resolve(chain: list[int], rows: dict[int, UnitPolicy], defaults: dict) -> EffectivePolicy:
    values, sources = {}, {}
    for name in FIELDS:
        values[name], sources[name] = defaults[name], None
        for unit_id in reversed(chain):  # nearest first: the unit itself, then upwards
            row = rows.get(unit_id)
            if row is not None and getattr(row, name) is not None:
                values[name], sources[name] = getattr(row, name), row.unit
                break
    return EffectivePolicy(**values, sources=sources)


def effective_many(units: Iterable[Unit]) -> dict[int, EffectivePolicy]:
    """unit id → its effective policy, for many units with one query (the overdue scan, the count schedule)."""
    units = list(units)
    chains = {unit.pk: _chain_ids(unit) for unit in units}
    wanted = {unit_id for chain in chains.values() for unit_id in chain}
    rows = {row.unit_id: row for row in UnitPolicy.objects.filter(unit_id__in=wanted).select_related("unit")}
    defaults = site_defaults()
    return {unit_id: _resolve(chain, rows, defaults) for unit_id, chain in chains.items()}


def effective(unit: Unit | None) -> EffectivePolicy:
    """The policy in force for `unit` (the site's alone for None)."""
    if unit is None:
        return _resolve([], {}, site_defaults())
    return effective_many([unit])[unit.pk]


LABELS = {
    "default_loan_hours": "Default loan period (hours)",
    "loss_report_hours": "Loss report deadline (hours)",
    "overdue_escalation_hours": "Overdue: commanders told after (hours)",
    "counter_rotates": "Counter rotates",
    "second_signature": "Second signature on counts",
    "count_frequency": "Count frequency",
}


def may_edit(account: Account, unit: Unit) -> bool:
    return bool(account.is_active and scope.has_role(account, unit, {Role.COMMANDER}))


def visible_unit(account: Account, code: str) -> Unit:
    """A unit the account may read the policy of: in its units (else 404) and holding a staff role there (else 403)."""
    unit = scope.units(account).filter(code=code).first()
    if unit is None:
        raise NotFound(f"No unit {code!r} in your units.", code="unit_not_found")
    if not scope.has_role(account, unit, scope.STAFF_ROLES):
        raise NotPermitted("A unit's custody policy is for its staff.", code="not_staff")
    return unit


def source_label(unit: Unit, source: Unit | None) -> str:
    """Where a value in force comes from, for people: "set here", "from region R", "site default"."""
    if source is None:
        return "site default"
    if source.pk == unit.pk:
        return "set here"
    return f"from {source.get_kind_display().lower()} {source.code}"


def own_settings(unit: Unit) -> dict:
    """The unit's own settings, None where it inherits."""
    row = UnitPolicy.objects.filter(unit=unit).first()
    return {name: getattr(row, name) if row else None for name in FIELDS}


def _invalid(name: str, detail: str, code: str) -> Invalid:
    error = Invalid(detail, code=code)
    error.field = name  # the web form shows it under the field
    return error


def _clean(name: str, value):
    """The stored form of one setting (None: inherit), or Invalid with a code that says what is wrong."""
    if value is None:
        return None
    if name in HOUR_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(name, f"{name} must be a whole number of hours.", "hours_not_whole")
        if not MIN_HOURS[name] <= value <= MAX_HOURS:
            raise _invalid(
                name, f"{name} must be between {MIN_HOURS[name]} and {MAX_HOURS} hours.", "hours_out_of_range"
            )
        return value
    if name in YES_NO_FIELDS:
        if not isinstance(value, bool):
            raise _invalid(name, f"{name} must be yes or no.", "not_yes_or_no")
        return value
    if value not in CountPolicy.Frequency.values:
        raise _invalid(
            name,
            f"Unknown count frequency {value!r}; use {', '.join(CountPolicy.Frequency.values)}.",
            "unknown_frequency",
        )
    return value


@retry_transient
@transaction.atomic(durable=True)
def set_unit_policy(*, unit: Unit, actor: Account, **fields) -> UnitPolicy:
    """Change the named settings of `unit`'s own policy (None: inherit again); the others stay as they are.

    Only a commander of the unit or a unit above it may. The change and its audit record commit together.
    """
    if not may_edit(actor, unit):
        raise NotPermitted(
            f"{actor.username} is not a commander of {unit.code}; cannot change its custody policy.",
            code="not_commander",
        )
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise Invalid(f"Unknown setting {unknown[0]!r}; known: {', '.join(FIELDS)}.", code="unknown_setting")
    cleaned = {name: _clean(name, value) for name, value in fields.items()}
    # Lock the unit, not the policy row: a unit's first policy has no row yet to lock, and two first writers would
    # otherwise both insert one.
    Unit.objects.select_for_update().only("pk").get(pk=unit.pk)
    row = UnitPolicy.objects.filter(unit=unit).first()
    old = {name: getattr(row, name) if row else None for name in FIELDS}
    changes = {name: (old[name], value) for name, value in cleaned.items() if old[name] != value}
    if not changes:
        return row or UnitPolicy(unit=unit)
    created = row is None
    row = row or UnitPolicy(unit=unit)
    before = None if created else changelog.snapshot(row, FIELDS)
    for name, (_, value) in changes.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = timezone.now(), actor
    row.save()
    action = changelog.CREATE if created else changelog.UPDATE
    changelog.record(actor=actor, obj=row, action=action, before=before, unit=unit)
    described = ", ".join(f"{name} {_shown(before)}→{_shown(after)}" for name, (before, after) in changes.items())
    audit.record(AUDIT_KIND, account=actor, detail=f"custody policy of {unit.code}: {described}")
    return row


def _shown(value) -> str:
    return "inherit" if value is None else str(value)
