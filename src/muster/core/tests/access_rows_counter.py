"""Access rows for the counter (custody/views_counter.py): armorers only; another unit's member or item is not found.

The scan names a member (a badge); the PIN issues the unit's item in the armory to that member, with the PIN the
matrix sets for every member.
"""

from muster.core.tests.access_table import ARMORER_ACTION, ARMORERS, PIN, row, url


def scan_badge(o):
    return {"code": o.member.member_no}


def issue_with_pin(o):
    return {"member": o.member.member_no, "item": o.item.pk, "pin": PIN}


ROWS = [
    row("counter", url("counter"), GET=ARMORERS),
    row("counter-scan", url("counter-scan"), POST=(ARMORER_ACTION, scan_badge)),
    row("counter-pin", url("counter-pin"), POST=(ARMORER_ACTION, issue_with_pin)),
]
