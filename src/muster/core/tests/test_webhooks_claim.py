"""Webhook deliveries are claimed before they are posted: two deliverers running at once (the per-minute job and the
nudge on two worker threads) never post the same delivery twice, on SQLite and PostgreSQL."""

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, connections
from django.utils import timezone

from muster.core import tasks, webhooks
from muster.core.models import Webhook, WebhookDelivery


class SlowReceiver(BaseHTTPRequestHandler):
    """Records the delivery id of every POST and takes its time answering, to widen any race."""

    received: list = []
    lock = threading.Lock()
    delay = 0.05

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with SlowReceiver.lock:
            SlowReceiver.received.append(json.loads(body)["delivery"])
        time.sleep(SlowReceiver.delay)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    SlowReceiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def pending(hook: Webhook, n: int) -> list[int]:
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, kind="custody.issue", payload={"n": i}, next_attempt_at=now) for i in range(n)
    )
    return list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True))


def run_at_once(*jobs) -> list:
    """Start every job in its own thread at the same moment; return their results (re-raising any failure)."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliverers_never_post_the_same_delivery_twice(receiver):
    hook = Webhook.objects.create(url=receiver, secret="s")
    ids = pending(hook, 12)
    outcomes = run_at_once(webhooks.deliver_pending, webhooks.deliver_pending)
    assert sorted(SlowReceiver.received) == ids  # every delivery posted, none twice
    assert sum(outcome["delivered"] for outcome in outcomes) == 12
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


@pytest.mark.django_db(transaction=True)
def test_the_nudge_and_the_periodic_job_together_post_each_delivery_once(receiver):
    hook = Webhook.objects.create(url=receiver, secret="s")
    ids = pending(hook, 8)
    run_at_once(tasks.deliver_webhooks.call_local, tasks.retry_webhooks.call_local, webhooks.deliver_pending)
    assert sorted(SlowReceiver.received) == ids
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


@pytest.mark.django_db
def test_a_deliverer_started_mid_post_skips_the_claimed_delivery(receiver, monkeypatch):
    """Deterministic form of the race: while the first deliverer posts delivery 1, a second one runs in full."""
    hook = Webhook.objects.create(url=receiver, secret="s")
    ids = pending(hook, 3)
    real_post = webhooks._post
    nested: list = []

    def post_and_interleave(delivery):
        if not nested:
            nested.append(None)
            nested[0] = webhooks.deliver_pending()
        real_post(delivery)

    monkeypatch.setattr(webhooks, "_post", post_and_interleave)
    outer = webhooks.deliver_pending()
    # The second deliverer took the two the first had not claimed yet; the first posted its own and skipped those.
    assert nested == [{"delivered": 2, "retry": 0, "failed": 0}]
    assert outer == {"delivered": 1, "retry": 0, "failed": 0}
    assert sorted(SlowReceiver.received) == ids


@pytest.mark.django_db
def test_a_delivery_claimed_by_a_deliverer_that_died_is_retried_after_the_lease(receiver):
    hook = Webhook.objects.create(url=receiver, secret="s")
    (pk,) = pending(hook, 1)
    now = timezone.now()
    assert webhooks._claim(pk, 0, now) is True  # a worker claimed it, then died before posting
    assert webhooks._claim(pk, 0, now) is False  # nobody else may take it
    assert webhooks.deliver_pending(now=now) == {"delivered": 0, "retry": 0, "failed": 0}
    later = now + webhooks.LEASE + timedelta(seconds=1)
    assert webhooks.deliver_pending(now=later) == {"delivered": 1, "retry": 0, "failed": 0}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert SlowReceiver.received == [pk]


@pytest.mark.django_db
def test_the_claim_is_one_conditional_update(receiver):
    """No read-then-write window: the claim is a single UPDATE … WHERE status, attempts and due time still hold."""
    from django.test.utils import CaptureQueriesContext

    hook = Webhook.objects.create(url=receiver, secret="s")
    (pk,) = pending(hook, 1)
    with CaptureQueriesContext(connection) as captured:
        webhooks._claim(pk, 0, timezone.now())
    (query,) = captured.captured_queries
    sql = query["sql"].upper()
    assert sql.startswith("UPDATE") and '"ATTEMPTS" = 0' in sql.replace("'", "") and '"STATUS"' in sql
