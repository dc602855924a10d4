"""Fixtures' building blocks shared by every app's tests: a small two-unit world with named people.

unit A (company A, under region R) and unit B (company B, under region R).
alice: armorer of A.  bob: active member of A (holds no account role but "member").  carol: armorer of B.
dave: commander of A.  erin: auditor of A.  frank: duty officer of A.  rita: armorer of region R (inherits A and B).
"""

import itertools
from datetime import date, timedelta

from django.utils import timezone

from muster.members.models import Account, Member, Role, RoleAssignment, Unit

_numbers = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


def make_unit(code: str, *, parent: Unit | None = None, kind: str = Unit.Kind.COMPANY, name: str = "") -> Unit:
    return Unit.objects.create(code=code, name=name or f"Unit {code}", kind=kind, parent=parent)


def make_member(unit: Unit, *, status: str = Member.Status.ACTIVE, vetted_days: int = 365, **fields) -> Member:
    number = next(_numbers)
    defaults = {
        "member_no": f"M{number:05d}",
        "first_name": f"First{number}",
        "last_name": f"Last{number}",
        "phone": f"+100000{number:05d}",
        "vetting_valid_until": timezone.localdate() + timedelta(days=vetted_days) if vetted_days else None,
        "joined_on": date(2024, 1, 1),
    }
    defaults.update(fields)
    return Member.objects.create(unit=unit, status=status, **defaults)


def make_account(username: str, *, roles: list[tuple[str, Unit]] = (), member: Member | None = None) -> Account:
    account = Account.objects.create_user(username=username, password=PASSWORD, member=member)
    for role, unit in roles:
        RoleAssignment.objects.create(account=account, unit=unit, role=role)
    return account


ALL_ROLES = [Role.COMMANDER, Role.ARMORER, Role.DUTY_OFFICER, Role.AUDITOR, Role.MEMBER]
