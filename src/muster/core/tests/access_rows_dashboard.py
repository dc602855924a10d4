"""Access rows of the unit dashboard and the key and seal register (custody/urls_dashboard.py,
custody/api_urls_dashboard.py).

Staff of the unit (or a unit above it) read them; anyone else — a plain member of the unit included — gets 404,
as for an armory: the unit is looked up among the caller's staff units. "own" is unit A, "other" unit B.
"""

from muster.core.tests.access_table import STAFF, STAFF_OBJECT, row, url

ROWS = [
    row("my-dashboard", url("my-dashboard"), GET=STAFF),
    row("unit-dashboard", url("unit-dashboard", "unit.code"), GET=STAFF_OBJECT),
    row("unit-keys", url("unit-keys", "unit.code"), GET=STAFF_OBJECT),
    row("api:unit-dashboard", url("api:unit-dashboard", "unit.code"), GET=STAFF_OBJECT),
    row("api:key-list", url("api:key-list", query="unit={o.unit.code}"), GET=STAFF_OBJECT),
]
