"""Unit scoping: which units, members and objects an account may see or act on.

A role held on a unit covers that unit and every unit below it. Everything a face lists or looks up goes through
these helpers, so an object of another unit is simply not found (404), never "forbidden".
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from muster.members.models import Account, Member, Role, RoleAssignment, Unit

STAFF_ROLES = frozenset({Role.COMMANDER, Role.ARMORER, Role.DUTY_OFFICER, Role.AUDITOR})
ALL_ROLES = frozenset(Role)


def _assignments(account: Account) -> list[tuple[str, str]]:
    """(role, unit path) pairs, cached on the account object for the life of the request."""
    cached = getattr(account, "_muster_role_paths", None)
    if cached is None:
        cached = list(RoleAssignment.objects.filter(account=account).values_list("role", "unit__path"))
        account._muster_role_paths = cached
    return cached


def forget(account: Account) -> None:
    """Drop the cached roles (after granting or revoking one)."""
    account.__dict__.pop("_muster_role_paths", None)


def unit_paths(account: Account, roles: Iterable[str] = ALL_ROLES) -> list[str]:
    wanted = set(roles)
    paths = sorted({path for role, path in _assignments(account) if role in wanted})
    # Drop paths already covered by an ancestor path, so the OR-ed prefix query stays short.
    kept: list[str] = []
    for path in paths:
        if not any(path.startswith(parent) for parent in kept):
            kept.append(path)
    return kept


def is_global(account: Account) -> bool:
    return bool(account.is_superuser)


def units_q(account: Account, roles: Iterable[str] = ALL_ROLES, *, field: str = "path") -> Q:
    """A filter matching rows whose unit path (reached through `field`) lies in the account's scope."""
    if is_global(account):
        return Q()
    paths = unit_paths(account, roles)
    if not paths:
        return Q(pk__in=[])
    query = Q()
    for path in paths:
        query |= Q(**{f"{field}__startswith": path})
    return query


def units(account: Account, roles: Iterable[str] = ALL_ROLES) -> QuerySet[Unit]:
    return Unit.objects.filter(units_q(account, roles))


def has_role(account: Account, unit: Unit, roles: Iterable[str]) -> bool:
    if is_global(account):
        return True
    return any(unit.path.startswith(path) for path in unit_paths(account, roles))


def roles_on(account: Account, unit: Unit) -> set[str]:
    if is_global(account):
        return set(ALL_ROLES)
    return {role for role, path in _assignments(account) if unit.path.startswith(path)}


def has_any_staff_role(account: Account) -> bool:
    return is_global(account) or any(role in STAFF_ROLES for role, _ in _assignments(account))


def visible_members(account: Account) -> QuerySet[Member]:
    """Staff see the members of their units; everyone sees themself."""
    query = units_q(account, STAFF_ROLES, field="unit__path")
    if not is_global(account) and account.member_id:
        query |= Q(pk=account.member_id)
    return Member.objects.filter(query)


def holders_of_role_over(unit: Unit, roles: Iterable[str]) -> list[int]:
    """Ids of the accounts holding any of `roles` on `unit` or a unit above it: whom to tell about it."""
    unit_ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    return list(
        RoleAssignment.objects.filter(unit_id__in=unit_ids, role__in=list(roles))
        .values_list("account_id", flat=True)
        .distinct()
    )
