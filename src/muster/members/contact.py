"""Who may read a member's contact data (phone, e-mail): the member themself, and the commanders and auditors of
the member's unit or of a unit above it. Nobody else — not armorers, duty officers or other members.

Why: commanders lead and reach their people; auditors check the records and only read them. An armorer at the
counter needs the name, number and status (the badge and the issue rules), not a phone number; an overdue or
recalled item is chased by the unit's commander, who gets the escalated notice. docs/privacy.md says the same for
every page, API field, export and paper that shows members.
"""

from muster.members import scope
from muster.members.models import Account, Member, Role

CONTACT_READERS = frozenset({Role.COMMANDER, Role.AUDITOR})
CONTACT_FIELDS = ("phone", "email")


def may_see_contact(account: Account | None, member: Member) -> bool:
    """Whether `account` may read `member`'s contact data. Reads the roles cached on the account (no query per
    member once `member.unit` is loaded)."""
    if account is None or not account.is_authenticated:
        return False
    if account.member_id is not None and account.member_id == member.pk:
        return True
    return scope.has_role(account, member.unit, CONTACT_READERS)


def contact_of(account: Account | None, member: Member) -> dict[str, str | None]:
    """The member's contact fields as `account` may see them: the values, or None for each when it may not."""
    shown = may_see_contact(account, member)
    return {name: getattr(member, name) if shown else None for name in CONTACT_FIELDS}
