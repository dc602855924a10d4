"""Query-count guard of the ledger integrity page: its checkpoint list (the newest 20) costs the same however many
checkpoints there are (core/tests/test_query_counts.py runs the table and its meta-test)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.tests.test_query_counts import Guard, context_rows, params, run_guard
from muster.custody.models import LedgerCheckpoint


def _checkpoints(ctx, n: int) -> None:
    LedgerCheckpoint.objects.bulk_create(
        LedgerCheckpoint(size=0, head_hash="0" * 64, created_at=timezone.now(), key_id="0" * 16, signature="0" * 128)
        for _ in range(n)
    )


GUARDS = [
    Guard(
        "ledger-integrity",
        lambda ctx: reverse("ledger-integrity"),
        _checkpoints,
        context_rows("checkpoints"),
        who="dave",
        few=5,
        many=30,
        cap=20,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_rows(world, guard):
    run_guard(guard, world)
