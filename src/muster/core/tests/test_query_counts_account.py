"""Query-count guard for the account's sessions page (core/tests/test_query_counts.py's helper and meta-test): it
reads the same number of queries for 10 sessions as for 60. EXCLUDED: the password page, a form about one account."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse
from django.utils import timezone

from muster.core.models import AccountSession
from muster.core.tests.test_query_counts import Guard, context_rows, params, run_guard

pytestmark = pytest.mark.django_db


def _sessions(ctx, n: int) -> None:
    """n more open sessions of bob's, each with its record, as n logins elsewhere would leave them."""
    for index in range(n):
        store = SessionStore()
        store["_auth_user_id"] = str(ctx.world.bob.pk)
        store.create()
        AccountSession.objects.create(
            account=ctx.world.bob, session_key=store.session_key, ip=f"10.{n}.0.{index % 250}",
            user_agent="Browser", started_at=timezone.now() - timedelta(minutes=index),
        )  # fmt: skip


GUARDS = [
    Guard("account-sessions", lambda ctx: reverse("account-sessions"), _sessions, context_rows("rows"), who="bob"),
]

EXCLUDED: dict[str, str] = {
    "password-change": "the password form of the signed-in account: no rows",
}


@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_sessions(world, guard):
    run_guard(guard, world)
