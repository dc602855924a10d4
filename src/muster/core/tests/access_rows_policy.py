"""Access rows of the per-unit custody policy pages and API (custody/urls_policy.py, custody/api_urls_policy.py).

Reading needs a staff role on the unit (bob, a plain member of A, gets 403); changing needs a commander of it. The
API's PUT is checked here too; custody/tests/test_policy_faces.py covers what it changes.
"""

from muster.core.tests.access_table import STAFF, Expect, row, url

POLICY_READERS = Expect("LFOOOO", "LNNNNN")
POLICY_EDITORS = Expect("LFFOFF", "LNNNNN")


def empty(o):
    return {}


ROWS = [
    row("unit-custody-policies", url("unit-custody-policies"), GET=STAFF),
    row(
        "unit-custody-policy",
        url("unit-custody-policy", "unit.code"),
        GET=POLICY_READERS,
        POST=(POLICY_EDITORS, empty),
    ),
    row(
        "api:unit-custody-policy",
        url("api:unit-custody-policy", "unit.code"),
        GET=POLICY_READERS,
        PUT=(POLICY_EDITORS, empty),
    ),
]
