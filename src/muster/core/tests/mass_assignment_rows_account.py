"""Mass-assignment rows for the account's own pages (core/urls.py) and the handover PIN form, whose member's own
PIN now needs the member's password (test_mass_assignment.py runs them with the others; REPLACED names the rows of
mass_assignment_rows.py these take the place of).

The sessions page ends the caller's other sessions: nothing a request adds (an account, a role, a flag) reaches the
database. The password page's valid request sets the caller's password, and nothing else of the account
(`account_changes`)."""

from muster.core.models import AccountSession
from muster.core.testing import PASSWORD
from muster.core.tests.access_table import url
from muster.core.tests.mass_assignment_rows import MEMBER, NEW_PIN, Write, credentials, member, pin, pin_set_by, write

NEW_PASSWORD = "an-unusual-passphrase-for-bob-42"


def session_fields(p) -> dict:
    """A session record's own columns, which no request sets."""
    return {
        "session_key": "0" * 32,
        "account": p.mallory.pk,
        "account_id": p.mallory.pk,
        "ip": "203.0.113.66",
        "user_agent": "poison",
        "started_at": "2000-01-01T00:00:00Z",
        "last_seen_at": "2000-01-01T00:00:00Z",
    }


def only_this_session_left(world, t):
    assert AccountSession.objects.filter(account=world.bob).count() <= 1
    assert not AccountSession.objects.exclude(account__in=[world.bob]).filter(ip="203.0.113.66").exists()


ROWS: list[Write] = [
    write("member-handover-pin", "bob", url("member-handover-pin", MEMBER),
          lambda t: {"new_pin": NEW_PIN, "repeat_pin": NEW_PIN, "current_password": PASSWORD}, pin, member,
          prefix="pin", check=pin_set_by("bob")),
    write("account-sessions", "bob", url("account-sessions"), lambda t: {"password": PASSWORD}, credentials,
          session_fields, check=only_this_session_left),
    write("password-change", "bob", url("password-change"),
          lambda t: {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
          credentials, member, account_changes=frozenset({"password"})),
]  # fmt: skip
# Rows of mass_assignment_rows.WEB that the rows above replace (the member's own PIN needs the password now).
REPLACED = frozenset({"member-handover-pin-POST"})
