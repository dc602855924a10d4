"""Outgoing webhooks, signed and retried, never part of the transaction that caused them.

`emit` records one delivery per interested webhook after the causing transaction commits; `deliver_pending` (run
by the worker every minute, and nudged right after an emit) POSTs them. Each request carries
`X-Muster-Signature: sha256=<hex HMAC-SHA256 of the raw body with the webhook's secret>`, `X-Muster-Event` and
`X-Muster-Delivery`. Failures are retried with backoff (1, 2, 4 … minutes) up to MAX_ATTEMPTS. Each delivery is
claimed before it is posted, so concurrent runs never post the same one twice. See docs/webhooks.md.
"""

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from muster.core.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5
# A claimed delivery is not due for anyone else for this long: far longer than one POST may take, so a worker that
# dies mid-post only delays the retry (the receiver may then see the delivery twice: X-Muster-Delivery tells).
LEASE = timedelta(minutes=10)


def emit(kind: str, payload: dict) -> None:
    """Queue `payload` for every active webhook that wants `kind`, once the current transaction commits."""
    transaction.on_commit(lambda: _record(kind, payload))


def _record(kind: str, payload: dict) -> None:
    try:
        now = timezone.now()
        deliveries = [
            WebhookDelivery(webhook=hook, kind=kind, payload=payload, next_attempt_at=now)
            for hook in Webhook.objects.filter(active=True)
            if hook.wants(kind)
        ]
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries)
            _nudge()
    except Exception:  # a webhook must never surface as a failed custody operation
        log.exception("could not queue webhook %s", kind)


def _nudge() -> None:
    try:
        from muster.core.tasks import deliver_webhooks

        deliver_webhooks()
    except Exception:  # the periodic run will pick them up
        log.debug("webhook worker not reachable; deliveries wait for the periodic run", exc_info=True)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(delivery: WebhookDelivery) -> None:
    body = json.dumps(
        {"event": delivery.kind, "delivery": delivery.pk, "data": delivery.payload},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    request = urllib.request.Request(  # noqa: S310 — the URL is an admin-configured https/http webhook
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Muster-Webhook/1",
            "X-Muster-Event": delivery.kind,
            "X-Muster-Delivery": str(delivery.pk),
            "X-Muster-Signature": signature(delivery.webhook.secret, body),
        },
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(delivery.webhook.url, response.status, "not 2xx", response.headers, None)


def _claim(pk: int, attempts: int, now) -> bool:
    """Take delivery `pk` for this caller: one conditional UPDATE (attempts as read, still pending and due), which
    exactly one of several concurrent callers wins, on SQLite and PostgreSQL alike. The winner's lease pushes
    next_attempt_at ahead, so the delivery is not due for anyone else while it is being posted."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=pk, status=WebhookDelivery.Status.PENDING, attempts=attempts, next_attempt_at__lte=now
        ).update(attempts=attempts + 1, next_attempt_at=now + LEASE)
    )


def deliver_pending(now=None) -> dict[str, int]:
    """Try every delivery that is due; return how many were delivered, retried later, and given up.

    Safe to run concurrently (the per-minute job and the nudge on two worker threads, or several workers): each
    delivery is claimed before it is posted, and one that another caller claimed first is skipped."""
    now = now or timezone.now()
    outcome = {"delivered": 0, "retry": 0, "failed": 0}
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
    for pk, attempts in list(due.order_by("pk").values_list("pk", "attempts")[:200]):
        if not _claim(pk, attempts, now):
            continue
        delivery = WebhookDelivery.objects.select_related("webhook").get(pk=pk)
        try:
            _post(delivery)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            delivery.last_error = str(exc)[:300]
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = WebhookDelivery.Status.FAILED
                outcome["failed"] += 1
            else:
                delivery.next_attempt_at = now + timedelta(minutes=2 ** (delivery.attempts - 1))
                outcome["retry"] += 1
        else:
            delivery.status, delivery.delivered_at, delivery.last_error = WebhookDelivery.Status.DELIVERED, now, ""
            outcome["delivered"] += 1
        delivery.save(update_fields=["status", "next_attempt_at", "last_error", "delivered_at"])
    return outcome
