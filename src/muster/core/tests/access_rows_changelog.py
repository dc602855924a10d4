"""Access rows for the change log (core/urls_changelog.py, core/api_urls_changelog.py).

Commanders and auditors read it; everyone else is refused (403) before any record is looked up, and a reader of A
asking for a record of B gets 404. "own" is a record of unit A, "other" one of unit B.
"""

from muster.core import changelog
from muster.core.tests.access_table import COMMANDERS_AUDITORS, Expect, row, url

CHANGE_RECORD = Expect("LFFOFO", "LFFNFN")

ROWS = [
    row("changes", url("changes"), GET=COMMANDERS_AUDITORS),
    row("api:change-list", url("api:change-list"), GET=COMMANDERS_AUDITORS),
    row("api:change-detail", url("api:change-detail", "change.pk"), GET=CHANGE_RECORD),
]


def build(world, objects) -> None:
    # The matrix builds its world inside one transaction, as a service would run.
    for scope in ("own", "peer", "other"):
        member = objects[scope].member
        objects[scope].change = changelog.record(actor=world.rita, obj=member, action=changelog.CREATE)
