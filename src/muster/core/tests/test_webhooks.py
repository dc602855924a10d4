"""Outgoing webhooks: signed, sent after commit to a real local HTTP server, retried, never blocking custody."""

import hashlib
import hmac
import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

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


DOCS = Path(__file__).resolve().parents[4] / "docs" / "webhooks.md"


def test_the_documented_signature_check_accepts_a_real_delivery_and_refuses_a_forged_one(
    world, receiver, django_capture_on_commit_callbacks
):
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)  # noqa: S102 — our own documentation's example
    signature_ok = namespace["signature_ok"]
    Webhook.objects.create(url=receiver, secret="s3cret", events=["custody.issue"])
    item = make_item(world.armory_a, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    webhooks.deliver_pending()
    headers, body = Receiver.received[-1]
    assert signature_ok("s3cret", body, headers["X-Muster-Signature"])
    assert not signature_ok("s3cret", body.replace(b'"issue"', b'"return"'), headers["X-Muster-Signature"])
    assert not signature_ok("another secret", body, headers["X-Muster-Signature"])
    assert not signature_ok("s3cret", body, None)
    # The body is as documented: compact, sorted keys, the delivery id as in its header, the fields of the table.
    message = json.loads(body)
    assert body == json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
    assert (message["event"], str(message["delivery"])) == ("custody.issue", headers["X-Muster-Delivery"])
    assert set(message["data"]) == {
        "seq", "kind", "item", "serial_number", "from", "to", "actor", "recorded_at", "due_at", "hash"
    }  # fmt: skip
    assert (message["data"]["from"], message["data"]["to"]) == (
        f"armory:{world.armory_a.pk}", f"member:{world.bob_member.pk}"
    )  # fmt: skip
