"""How higher apps react to roster changes without `members` importing them (the dependency arrow points up).

- `member_lapsed` is sent (inside the changing transaction) when a member may no longer hold controlled items:
  suspended, departed, vetting expired or revoked. custody subscribes and flags their items for recall.
- `departure_checks` are callables `check(member)` that raise `core.errors.Refused` to veto a departure;
  custody registers one that refuses while the member still holds anything.
"""

from collections.abc import Callable

from django.dispatch import Signal

member_lapsed = Signal()  # sender=Member class; kwargs: member, reason_code, detail

departure_checks: list[Callable] = []


def register_departure_check(check: Callable) -> Callable:
    if check not in departure_checks:
        departure_checks.append(check)
    return check
