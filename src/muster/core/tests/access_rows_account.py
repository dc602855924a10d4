"""Access rows for the signed-in account's own pages (core/urls.py): its password and its sessions. Every account
has them, and they concern only the caller, so there is no other unit's object to try: anonymous callers go to the
login page, everyone else gets the page (an empty form answers 400, "O")."""

from muster.core.tests.access_table import SIGNED_IN, row, url


def empty(o):
    return {}


ROWS = [
    row("password-change", url("password-change"), GET=SIGNED_IN, POST=(SIGNED_IN, empty)),
    row("account-sessions", url("account-sessions"), GET=SIGNED_IN, POST=(SIGNED_IN, empty)),
]
