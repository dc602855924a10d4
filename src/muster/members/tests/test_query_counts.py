"""Query-count guards for the roster pages and API routes not guarded by their feature's tests (the helper, the rules
and the meta-test are in core/tests/test_query_counts.py)."""

import itertools

import pytest
from django.urls import reverse

from muster.core.testing import make_member, make_unit
from muster.core.tests.test_query_counts import Guard, context_rows, json_rows, params, run_guard

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


def _members_below_a(ctx, n: int) -> None:
    """n members of A and of platoons under it: the list shows each member's unit."""
    world = ctx.world
    for number in range(n):
        unit = world.unit_a if number % 2 else make_unit(f"QC{next(_numbers)}", parent=world.unit_a)
        make_member(unit)


GUARDS = [
    # A commander reads the roster with the contact columns (members.contact), unlike the armorer and the regional
    # armorer of the older guards.
    Guard("member-index", lambda ctx: reverse("member-index"), _members_below_a, context_rows("page_obj"),
          who="dave", cap=50, name="commander"),
    Guard("api:member-list", lambda ctx: reverse("api:member-list"), _members_below_a, json_rows(), who="dave",
          cap=50, name="commander"),
]  # fmt: skip


@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_rows(world, guard):
    run_guard(guard, world)
