"""Notifications: in-app rows and e-mail, sent only after the transaction that caused them commits.

A notification can never block or roll back the change it reports: it is scheduled with on_commit and a failure
to send mail is logged, not raised.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from muster.core.models import Notification

log = logging.getLogger(__name__)


def notify(recipient_ids: Iterable[int], *, subject: str, body: str = "", url: str = "") -> None:
    recipient_ids = sorted(set(recipient_ids))
    if recipient_ids:
        transaction.on_commit(lambda: _deliver(recipient_ids, subject, body, url))


def _deliver(recipient_ids: list[int], subject: str, body: str, url: str) -> None:
    from django.contrib.auth import get_user_model

    try:
        Notification.objects.bulk_create(
            [Notification(recipient_id=pk, subject=subject, body=body, url=url) for pk in recipient_ids]
        )
        addresses = list(
            get_user_model().objects.filter(pk__in=recipient_ids, is_active=True).exclude(email="")
            .values_list("email", flat=True)
        )  # fmt: skip
        if addresses:
            send_mail(f"[Muster] {subject}", f"{body}\n\n{url}".strip(), settings.DEFAULT_FROM_EMAIL, addresses)
    except Exception:  # a lost notification must not surface as a failed custody operation
        log.exception("could not deliver notification %r to %s", subject, recipient_ids)
