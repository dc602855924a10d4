"""Outgoing webhooks: signed, sent after commit to a real local HTTP server, retried, never blocking custody."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from muster.core import webhooks
from muster.core.models import Webhook, WebhookDelivery
from muster.custody import services
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_a_custody_event_is_posted_signed_after_commit(world, receiver, django_capture_on_commit_callbacks):
    Webhook.objects.create(url=receiver, secret="s3cret", events=["custody"])
    Webhook.objects.create(url=receiver, secret="other", events=["training"], description="not interested")
    item = make_item(world.armory_a, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        event = services.issue(item=item, member=world.bob_member, actor=world.alice)
    assert webhooks.deliver_pending() == {"delivered": 1, "retry": 0, "failed": 0}
    headers, body = Receiver.received[-1]
    assert headers["X-Muster-Event"] == "custody.issue"
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Muster-Signature"] == expected
    data = json.loads(body)["data"]
    assert (data["seq"], data["hash"], data["to"]) == (event.seq, event.hash, f"member:{world.bob_member.pk}")


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(world, receiver):
    Receiver.status = 500
    hook = Webhook.objects.create(url=receiver, secret="s")
    delivery = WebhookDelivery.objects.create(
        webhook=hook, kind="custody.issue", payload={}, next_attempt_at=timezone.now()
    )
    assert webhooks.deliver_pending() == {"delivered": 0, "retry": 1, "failed": 0}
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.next_attempt_at > timezone.now()
    later = timezone.now()
    for _ in range(webhooks.MAX_ATTEMPTS - 1):
        later += timedelta(days=1)
        webhooks.deliver_pending(now=later)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)


def test_an_unreachable_webhook_never_blocks_an_issue(world, django_capture_on_commit_callbacks):
    Webhook.objects.create(url="http://127.0.0.1:9/nothing-listens-here", secret="s")
    item = make_item(world.armory_a, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    item.refresh_from_db()
    assert item.holder_member == world.bob_member
    assert webhooks.deliver_pending()["retry"] >= 1
