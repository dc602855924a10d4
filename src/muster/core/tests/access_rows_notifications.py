"""Access rows for notifications (core/urls_notifications.py, core/api_urls_notifications.py).

Every signed-in account reads and marks its own notifications, whatever its roles. A notification's id is one
account's: "own" is bob's, "peer" alice's, "other" carol's (unit B), so only bob may mark the first, only alice the
second, and nobody in the table the third; everyone else gets 404, never 403.
"""

from muster.core.models import Notification
from muster.core.tests.access_table import SIGNED_IN, Expect, row, url

# anon bob alice dave frank erin
OWN_NOTIFICATION = Expect("LONNNN", "LNNNNN", peer="LNONNN")


def empty(o):
    return {}


WEB_ROWS = [
    row("notifications", url("notifications"), GET=SIGNED_IN),
    row("notification-read", url("notification-read", "notification.pk"), POST=(OWN_NOTIFICATION, empty)),
    row("notifications-read-all", url("notifications-read-all"), POST=(SIGNED_IN, empty)),
]
API_ROWS = [
    row("api:notification-list", url("api:notification-list"), GET=SIGNED_IN),
    row("api:notification-read", url("api:notification-read", "notification.pk"), POST=(OWN_NOTIFICATION, empty)),
    row("api:notifications-read-all", url("api:notifications-read-all"), POST=(SIGNED_IN, empty)),
]
ROWS = WEB_ROWS + API_ROWS


def build(world, objects) -> None:
    for scope, account in (("own", world.bob), ("peer", world.alice), ("other", world.carol)):
        objects[scope].notification = Notification.objects.create(
            recipient=account, subject=f"Matrix notice for {account.username}", url="/"
        )
