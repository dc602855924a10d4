"""Notifications: in-app rows written once the causing transaction commits, e-mailed later by the worker.

A notification can never block or roll back the change it reports. `notify` only schedules work with on_commit;
the on-commit hook writes the rows and queues one worker task (`core.tasks.send_notification_emails`), both
guarded so that a failure is logged, not raised. Mail is sent only by the worker (`send_emails`), with
settings.EMAIL_TIMEOUT bounding every SMTP operation; a failed send is retried with backoff by the periodic sweep
(`core.tasks.retry_notification_emails`), which also picks up mail whose task was never queued.

Each e-mail is claimed before it is sent (an UPDATE that succeeds for one caller only, on SQLite and PostgreSQL),
so the queued task and the sweep on two worker threads never send the same one twice. Links in e-mails are made
absolute with settings.MUSTER_BASE_URL.

Reading side: `unread_count`, `mark_read` and `mark_all_read` serve the /notifications/ page, the navbar badge
and /api/v1/notifications/.
"""

import logging
import smtplib
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.utils import timezone

from muster.core.errors import NotFound
from muster.core.models import ExpiryWarning, Notification

log = logging.getLogger(__name__)

EMAIL_MAX_ATTEMPTS = 6
# A claimed e-mail is not offered to anyone else for this long: far longer than a send can take (EMAIL_TIMEOUT
# bounds each SMTP step), so a worker that dies mid-send only delays the retry.
EMAIL_LEASE = timedelta(minutes=15)
EMAIL_BATCH = 200
# Failures that say the server, not this message, is the trouble: the rest of the batch waits for the next sweep
# instead of each waiting out EMAIL_TIMEOUT in turn.
SERVER_DOWN = (TimeoutError, ConnectionError, socket.gaierror, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)


def notify(recipient_ids: Iterable[int], *, subject: str, body: str = "", url: str = "") -> None:
    """Tell these accounts, once the current transaction commits (at once outside a transaction)."""
    recipient_ids = sorted(set(recipient_ids))
    if recipient_ids:
        transaction.on_commit(lambda: _deliver(recipient_ids, subject, body, url))


def _deliver(recipient_ids: list[int], subject: str, body: str, url: str) -> None:
    """The on-commit hook: the rows (a few inserts) and one queued task. Never sends mail, never raises."""
    from django.contrib.auth import get_user_model

    try:
        with transaction.atomic():
            addressed = set(
                get_user_model().objects.filter(pk__in=recipient_ids, is_active=True).exclude(email="")
                .values_list("pk", flat=True)
            )  # fmt: skip
            now = timezone.now()
            rows = Notification.objects.bulk_create(
                [
                    Notification(
                        recipient_id=pk,
                        subject=subject[:200],
                        body=body,
                        url=url[:300],
                        email_status=Notification.Email.PENDING if pk in addressed else Notification.Email.NONE,
                        email_due_at=now if pk in addressed else None,
                    )
                    for pk in recipient_ids
                ]
            )
    except Exception:  # a lost notification must not surface as a failed custody operation
        log.exception("could not record notification %r to %s", subject, recipient_ids)
        return
    pending = [row.pk for row in rows if row.email_status == Notification.Email.PENDING]
    if pending:
        _queue_emails(pending)


def _queue_emails(notification_ids: list[int]) -> None:
    try:
        from muster.core.tasks import send_notification_emails

        send_notification_emails(notification_ids)
    except Exception:  # the queue is down: the periodic sweep sends them
        log.warning("could not queue e-mail for notifications %s; the worker's sweep sends them", notification_ids)


# --- e-mail (the worker) -----------------------------------------------------------------------------------------


def absolute_url(url: str) -> str:
    """A path inside Muster as a full address on settings.MUSTER_BASE_URL; anything else unchanged."""
    if url.startswith("/") and not url.startswith("//"):
        return settings.MUSTER_BASE_URL.rstrip("/") + url
    return url


def email_message(notification: Notification) -> EmailMessage:
    subject = " ".join(f"[Muster] {notification.subject}".split())  # no line breaks in a header
    link = absolute_url(notification.link)
    text = "\n\n".join(part for part in (notification.body.strip(), link) if part)
    return EmailMessage(subject, text, settings.DEFAULT_FROM_EMAIL, [notification.recipient.email])


def _claim(pk: int, attempts: int, now: datetime) -> bool:
    """Take the e-mail of notification `pk` for this caller: one UPDATE, which one caller alone can win."""
    return bool(
        Notification.objects.filter(
            pk=pk, email_status=Notification.Email.PENDING, email_attempts=attempts, email_due_at__lte=now
        ).update(email_attempts=attempts + 1, email_due_at=now + EMAIL_LEASE)
    )


def send_emails(notification_ids: Iterable[int] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """E-mail the due notifications (these ones, or all that are due); return how many were sent, left for a
    retry, given up, or skipped (the account lost its address or was disabled meanwhile)."""
    now = now or timezone.now()
    outcome = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    due = Notification.objects.filter(email_status=Notification.Email.PENDING, email_due_at__lte=now)
    if notification_ids is not None:
        due = due.filter(pk__in=list(notification_ids))
    candidates = list(due.order_by("pk").values_list("pk", "email_attempts")[:EMAIL_BATCH])
    connection = None
    try:
        for pk, attempts in candidates:
            if not _claim(pk, attempts, now):
                continue  # another worker thread took it
            notification = Notification.objects.select_related("recipient").filter(pk=pk).first()
            if notification is None:  # its account was deleted meanwhile
                continue
            if not notification.recipient.is_active or not notification.recipient.email:
                _settle(pk, status=Notification.Email.NONE, due_at=None)
                outcome["skipped"] += 1
                continue
            try:
                connection = connection or get_connection(fail_silently=False)
                connection.send_messages([email_message(notification)])
            except Exception as exc:  # SMTP down, timed out, refused: try again later
                connection = _close(connection)
                if attempts + 1 >= EMAIL_MAX_ATTEMPTS:
                    _settle(pk, status=Notification.Email.FAILED, due_at=None)
                    outcome["failed"] += 1
                    log.error("gave up e-mailing notification %s after %s attempts: %s", pk, attempts + 1, exc)
                else:
                    _settle(pk, status=Notification.Email.PENDING, due_at=now + _backoff(attempts + 1))
                    outcome["retry"] += 1
                    log.warning("could not e-mail notification %s (attempt %s): %s", pk, attempts + 1, exc)
                if isinstance(exc, SERVER_DOWN):
                    break
            else:
                _settle(pk, status=Notification.Email.SENT, due_at=None, emailed_at=timezone.now())
                outcome["sent"] += 1
    finally:
        _close(connection)
    return outcome


def _backoff(attempts: int) -> timedelta:
    """2, 4, 8, 16 … minutes after the 1st, 2nd, 3rd, 4th … failure."""
    return timedelta(minutes=2**attempts)


def _settle(pk: int, *, status: str, due_at: datetime | None, emailed_at: datetime | None = None) -> None:
    Notification.objects.filter(pk=pk).update(email_status=status, email_due_at=due_at, emailed_at=emailed_at)


def _close(connection) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:  # a connection that broke while sending may fail to close too
            log.debug("closing the mail connection failed", exc_info=True)


# --- warnings sent once --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    """Something of a member that expires: what (kind, subject_id), when, and whom to tell how."""

    kind: str
    member_id: int
    subject_id: str
    expires_on: date
    recipients: list[int]
    subject: str
    body: str
    url: str


def warn_once(expiry: Expiry) -> bool:
    """Record the warning and notify, in one transaction; False when this expiry was warned about already (the
    unique constraint decides, so two workers cannot both send it)."""
    try:
        with transaction.atomic():
            ExpiryWarning.objects.create(
                kind=expiry.kind, member_id=expiry.member_id, subject_id=expiry.subject_id,
                expires_on=expiry.expires_on,
            )  # fmt: skip
            notify(expiry.recipients, subject=expiry.subject, body=expiry.body, url=expiry.url)
    except IntegrityError:
        return False
    return True


def already_warned(kind: str, member_ids: Iterable[int]) -> set[tuple[int, str, date]]:
    """(member id, subject id, expiry) of the warnings of `kind` sent already to these members."""
    return set(
        ExpiryWarning.objects.filter(kind=kind, member_id__in=list(member_ids)).values_list(
            "member_id", "subject_id", "expires_on"
        )
    )


# --- reading and marking -------------------------------------------------------------------------------------------


def unread_count(account) -> int:
    return Notification.objects.filter(recipient=account, read_at=None).count()


def mark_read(*, account, notification_id) -> Notification:
    """Mark one of the account's own notifications read (it keeps its first read time); another's is not found."""
    pk = notification_id if isinstance(notification_id, int) else None
    if isinstance(notification_id, str) and notification_id.isascii() and notification_id.isdigit():
        pk = int(notification_id)
    with transaction.atomic():
        notification = Notification.objects.filter(recipient=account, pk=pk).first() if pk is not None else None
        if notification is None:
            raise NotFound("No such notification.", code="notification_not_found")
        if notification.read_at is None:
            notification.read_at = timezone.now()
            Notification.objects.filter(pk=notification.pk, read_at=None).update(read_at=notification.read_at)
    return notification


def mark_all_read(*, account) -> int:
    """Mark every unread notification of the account read; returns how many."""
    return Notification.objects.filter(recipient=account, read_at=None).update(read_at=timezone.now())
