"""Query-count guards for notifications (core/tests/test_query_counts.py's helper and meta-test).

GUARDS: the list page and the API list read the same number of queries for 10 notifications as for 60. EXCLUDED:
the POST-only routes, which show no rows. The API guard runs once muster/api_urls.py includes
core.api_urls_notifications (until then it skips, and GUARDS leaves it out so the meta-test sees no stale row).
"""

import pytest
from django.urls import reverse

from muster.core.models import Notification
from muster.core.tests.test_query_counts import Guard, context_rows, json_rows, params, run_guard

pytestmark = pytest.mark.django_db


def _notifications(ctx, n: int) -> None:
    """n unread notifications for bob, each with a link, as the jobs write them."""
    Notification.objects.bulk_create(
        Notification(recipient=ctx.world.bob, subject=f"Recall {i}", body="Bring it back.", url=f"/items/{i}/")
        for i in range(n)
    )


WEB_GUARDS = [
    Guard("notifications", lambda ctx: reverse("notifications"), _notifications, context_rows("page_obj"), who="bob",
          cap=25),
]  # fmt: skip
API_GUARDS = [
    Guard("api:notification-list", lambda ctx: reverse("api:notification-list"), _notifications, json_rows(),
          who="bob", cap=50),
]  # fmt: skip
GUARDS = WEB_GUARDS + API_GUARDS

EXCLUDED: dict[str, str] = {
    "notification-read": "POST only: marks one notification; answers with its row or a redirect to notifications",
    "notifications-read-all": "POST only: marks the caller's notifications read; redirects to notifications",
    "api:notification-read": "POST only: one notification",
    "api:notifications-read-all": "POST only: a count",
}


@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_notifications(world, guard):
    run_guard(guard, world)
