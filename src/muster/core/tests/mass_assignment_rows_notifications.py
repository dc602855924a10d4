"""Mass-assignment rows for the notification routes (test_mass_assignment.py runs them with the others): forbidden
fields (the recipient, read and e-mail state, the subject) never reach the database, and marking read changes nothing
but the caller's own notifications' read time."""

from muster.core.models import Notification
from muster.core.tests.access_table import url
from muster.core.tests.mass_assignment_poison import POISON_INT, POISON_TEXT, POISON_TIME
from muster.core.tests.mass_assignment_rows import Write, write


def notification_fields(p) -> dict:
    """A notification's own columns, which no request sets: whose it is, what it says, its read and mail state."""
    return {
        "recipient": p.mallory.pk, "recipient_id": p.mallory.pk, "subject": POISON_TEXT, "body": POISON_TEXT,
        "url": POISON_TEXT, "read_at": POISON_TIME, "email_status": POISON_TEXT, "email_attempts": POISON_INT,
        "email_due_at": POISON_TIME, "emailed_at": POISON_TIME, "unread": True,
    }  # fmt: skip


def read(world, t) -> None:
    notification = Notification.objects.get(pk=t.notification.pk)
    assert notification.read_at is not None and notification.recipient_id == world.bob.pk
    assert notification.subject == t.notification.subject


def all_read(world, t) -> None:
    assert not Notification.objects.filter(recipient=world.bob, read_at=None).exists()
    assert Notification.objects.filter(recipient=world.alice, read_at=None).exists()  # nobody else's


WEB_ROWS: list[Write] = [
    write("notification-read", "bob", url("notification-read", "notification.pk"), lambda t: {}, notification_fields,
          check=read),
    write("notifications-read-all", "bob", url("notifications-read-all"), lambda t: {}, notification_fields,
          check=all_read),
]  # fmt: skip
API_ROWS: list[Write] = [
    write("api:notification-read", "bob", url("api:notification-read", "notification.pk"), lambda t: {},
          notification_fields, check=read),
    write("api:notifications-read-all", "bob", url("api:notifications-read-all"), lambda t: {}, notification_fields,
          check=all_read),
]  # fmt: skip
ROWS = WEB_ROWS + API_ROWS
