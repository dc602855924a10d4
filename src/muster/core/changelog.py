"""The change log: every create, update and delete of a non-custody record, written by the service that makes it,
in the same transaction.

Not signals (NetBox's way): a signal knows no actor without a request and never fires for QuerySet.update() or
bulk_create(). The service knows the actor and every row it writes, so it records them itself:

    before = changelog.snapshot(member)
    member.status = to_status
    member.save(update_fields=["status"])
    changelog.record(actor=actor, obj=member, action=changelog.UPDATE, before=before)

The table is append-only (database triggers, core.changelog_triggers). Custody keeps its own ledger.
"""

import contextvars
import hashlib
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.db.models import Q, QuerySet

from muster.core.models import ChangeRecord
from muster.members import scope
from muster.members.models import Member, Role, Unit

CREATE = ChangeRecord.Action.CREATE
UPDATE = ChangeRecord.Action.UPDATE
DELETE = ChangeRecord.Action.DELETE

# Who reads the change log: the commanders whose units' records change, and the auditors who check them.
READERS = frozenset({Role.COMMANDER, Role.AUDITOR})

# Fields whose value never enters the log; the log says only that they were set or changed.
SECRET_FIELDS = frozenset({"password"})
SECRET_SET, SECRET_CHANGED = "(secret)", "(secret, changed)"

# The record types services log (app_label.model); the list's filter offers these.
LOGGED_TYPES = (
    "members.unit",
    "members.member",
    "members.account",
    "members.roleassignment",
    "members.statuschange",
    "members.vetting",
    "members.disciplinaryentry",
    "training.qualification",
    "training.course",
    "training.trainingsession",
    "training.trainee",
    "training.memberqualification",
    "custody.itemtype",
    "custody.armory",
    "custody.unitpolicy",
    "custody.losscase",
)

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("muster_request_id", default="")


def label(model: type[models.Model] | models.Model) -> str:
    return model._meta.label_lower


def _plain(value: Any) -> Any:
    """A JSON value for a field value: dates and times as ISO 8601, decimals and UUIDs as strings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return str(value)


def _fingerprint(value: Any) -> str | None:
    # Compared, never stored: tells a changed secret from an unchanged one without keeping it.
    return None if not value else "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The object's field values, JSON-ready: concrete fields (foreign keys as ids) and many-to-many fields (sorted
    ids), the primary key left out. Take it before changing the object and pass it to `record` as `before`."""
    wanted = None if fields is None else set(fields)
    values: dict[str, Any] = {}
    for field in [*obj._meta.concrete_fields, *obj._meta.many_to_many]:
        if field.primary_key or (wanted is not None and field.name not in wanted):
            continue
        if field.many_to_many:
            values[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True)) if obj.pk else []
        elif field.name in SECRET_FIELDS:
            values[field.name] = _fingerprint(getattr(obj, field.attname))
        else:
            values[field.name] = _plain(getattr(obj, field.attname))
    return values


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list)) and not value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """{field: [before, after]} for every field whose value differs; a field missing on one side counts as None."""
    changes = {}
    for name in [*before, *(name for name in after if name not in before)]:
        old, new = before.get(name), after.get(name)
        if old != new and not (_empty(old) and _empty(new)):
            changes[name] = [old, new]
    return changes


def _redact(changes: dict[str, list]) -> dict[str, list]:
    for name in SECRET_FIELDS & changes.keys():
        old, new = changes[name]
        changes[name] = [SECRET_SET if old else None, SECRET_CHANGED if old and new else (SECRET_SET if new else None)]
    return changes


def unit_of(obj: models.Model) -> Unit | None:
    """The unit a record concerns: a unit itself, the record's own unit, its member's, its session's; else none
    (site-wide records such as courses and item types)."""
    if isinstance(obj, Unit):
        return obj
    for name in ("unit", "member", "session"):
        if _has_field(obj, name) and getattr(obj, f"{name}_id", None) is not None:
            target = getattr(obj, name)
            return target if name == "unit" else unit_of(target)
    return None


def related_of(obj: models.Model) -> Member | None:
    """The member a record belongs to (a vetting, a grant, an account), so it shows in that member's history."""
    if not isinstance(obj, Member) and _has_field(obj, "member") and getattr(obj, "member_id", None) is not None:
        return obj.member
    return None


def _has_field(obj: models.Model, name: str) -> bool:
    try:
        field = obj._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return field.concrete and field.is_relation and not field.many_to_many


def _require_transaction() -> None:
    # The record must commit or roll back with the change it describes.
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("changelog.record must run inside the service's transaction (transaction.atomic)")


_ACTIONS = frozenset(ChangeRecord.Action.values)  # computed once: Django builds the list anew on every access


def entry(
    *,
    actor,
    obj: models.Model,
    action: str,
    before: dict[str, Any] | None = None,
    unit: Unit | None = None,
    related: models.Model | None = None,
    extra: dict[str, list] | None = None,
) -> ChangeRecord | None:
    """An unsaved ChangeRecord for `obj` (see `record`), or None for an update that changed nothing."""
    if action not in _ACTIONS:
        raise ValueError(f"unknown change action {action!r}")
    if action == UPDATE and before is None:
        raise ValueError("an update needs the snapshot taken before it (before=snapshot(obj))")
    if action == CREATE:  # diff({}, snapshot(obj)), without comparing every value with nothing
        changes = {name: [None, value] for name, value in snapshot(obj).items() if not _empty(value)}
    elif action == DELETE:
        changes = diff(before if before is not None else snapshot(obj), {})
    else:
        changes = diff(before, snapshot(obj, before.keys()))
    changes = _redact(changes)
    changes.update(extra or {})
    if action == UPDATE and not changes:
        return None
    related = related if related is not None else related_of(obj)
    return ChangeRecord(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "system",
        action=action,
        object_type=label(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        related_type=label(related) if related is not None else "",
        related_id=str(related.pk) if related is not None else "",
        unit=unit if unit is not None else unit_of(obj),
        changes=changes,
        request_id=_request_id.get(),
    )


def record(
    *,
    actor,
    obj: models.Model,
    action: str,
    before: dict[str, Any] | None = None,
    unit: Unit | None = None,
    related: models.Model | None = None,
    extra: dict[str, list] | None = None,
) -> ChangeRecord | None:
    """Log one change of `obj` by `actor`, inside the caller's transaction.

    create: after saving the new object. update: after saving, with `before=snapshot(obj)` taken before the change
    (nothing is written if no field changed). delete: before deleting (the object still has its id).
    `unit` and `related` default to the object's unit and member (unit_of, related_of); `extra` adds entries that are
    not model fields, e.g. {"api_token": [None, "(secret)"]}.
    """
    _require_transaction()
    made = entry(actor=actor, obj=obj, action=action, before=before, unit=unit, related=related, extra=extra)
    if made is not None:
        made.save(force_insert=True)
    return made


def record_many(entries: Iterable[ChangeRecord | None]) -> list[ChangeRecord]:
    """Save many `entry(...)` results in one statement (bulk services keep a constant number of queries)."""
    _require_transaction()
    return ChangeRecord.objects.bulk_create([made for made in entries if made is not None], batch_size=1000)


# --- reading -------------------------------------------------------------------------------------------------------


def is_reader(account) -> bool:
    return bool(account.is_authenticated and (scope.is_global(account) or scope.unit_paths(account, READERS)))


def visible_changes(account) -> QuerySet[ChangeRecord]:
    """Records of the units where the account commands or audits (and below), plus site-wide ones (no unit), which
    concern every unit. Nothing for an account without those roles."""
    if scope.is_global(account):
        return ChangeRecord.objects.all()
    if not scope.unit_paths(account, READERS):
        return ChangeRecord.objects.none()
    return ChangeRecord.objects.filter(scope.units_q(account, READERS, field="unit__path") | Q(unit__isnull=True))


# --- request ids ---------------------------------------------------------------------------------------------------


class RequestIdMiddleware:
    """Tags every change a request makes with one id (also sent back as X-Request-ID), so the records one form
    submission or API call wrote can be read together. Our own id: a client-sent one could be forged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = uuid.uuid4().hex
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
