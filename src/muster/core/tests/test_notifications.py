"""Notifications: the /notifications/ page, marking read, the navbar badge, and e-mail sent by the worker only.

E-mail is never sent in a request: the on-commit hook writes the rows and queues a worker task, and a failing or
hanging mail server cannot hold up or roll back the custody change that caused the notification.
"""

import smtplib
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core import notify
from muster.core.models import Notification
from muster.custody.models import LossCase
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db

LIST = "/notifications/"


def make_notification(account, subject="Recall: AK-1 from Bob", *, url="/items/149/", read=False, **fields):
    return Notification.objects.create(
        recipient=account, subject=subject, url=url, read_at=timezone.now() if read else None, **fields
    )


def signed_in(account, **options) -> Client:
    client = Client(**options)
    client.force_login(account)
    return client


def give_addresses(world) -> None:
    for account in (world.alice, world.dave, world.bob):
        account.email = f"{account.username}@unit-a.example"
        account.save(update_fields=["email"])


# --- the page ------------------------------------------------------------------------------------------------------


def test_it_lists_only_the_accounts_own_notifications_newest_first(world):
    read = make_notification(world.bob, "Older, read", read=True)
    unread = make_notification(world.bob, "Newer, unread")
    make_notification(world.alice, "Alice's own")
    response = signed_in(world.bob).get(LIST)
    assert response.status_code == 200
    assert [n.pk for n in response.context["page_obj"]] == [unread.pk, read.pk]
    html = response.content.decode()
    assert "Alice&#x27;s own" not in html and "Alice's own" not in html
    assert f'data-testid="notification-{unread.pk}" data-unread="true"' in html
    assert f'data-testid="notification-{read.pk}" data-unread="false"' in html
    assert 'class="table-warning"' in html  # the unread row is highlighted
    assert 'href="/items/149/"' in html  # each row links to where to look


def test_it_shows_unread_only_on_request(world):
    make_notification(world.bob, "read", read=True)
    unread = make_notification(world.bob, "unread")
    response = signed_in(world.bob).get(LIST, {"unread": "1"})
    assert [n.pk for n in response.context["page_obj"]] == [unread.pk]


def test_it_pages_the_list(world):
    Notification.objects.bulk_create([Notification(recipient=world.bob, subject=f"n{i}") for i in range(30)])
    client = signed_in(world.bob)
    first, second = client.get(LIST), client.get(LIST, {"page": "2"})
    assert (len(first.context["page_obj"]), len(second.context["page_obj"])) == (25, 5)
    assert not {n.pk for n in first.context["page_obj"]} & {n.pk for n in second.context["page_obj"]}


def test_it_sends_a_stranger_to_the_login_page():
    response = Client().get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_does_not_link_a_notification_url_that_is_not_a_muster_path(world):
    make_notification(world.bob, "odd", url="javascript:alert(1)")
    make_notification(world.bob, "odd too", url="//evil.example/x")
    html = signed_in(world.bob).get(LIST).content.decode()
    assert "javascript:" not in html and "//evil.example" not in html


# --- marking read --------------------------------------------------------------------------------------------------


def test_it_marks_one_notification_read_and_returns_to_the_list(world):
    first, second = make_notification(world.bob, "one"), make_notification(world.bob, "two")
    response = signed_in(world.bob).post(
        reverse("notification-read", args=[first.pk]), {"next": "/notifications/?page=1"}
    )
    assert (response.status_code, response["Location"]) == (302, "/notifications/?page=1")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None


def test_it_marks_read_with_htmx_and_answers_with_the_row_and_the_badge(world):
    first = make_notification(world.bob, "one")
    make_notification(world.bob, "two")
    response = signed_in(world.bob).post(reverse("notification-read", args=[first.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="notification-{first.pk}"' in html and 'data-unread="false"' in html
    assert 'id="nav-unread"' in html and 'hx-swap-oob="outerHTML"' in html
    assert '>1<span class="visually-hidden"> unread' in html  # one left
    first.refresh_from_db()
    assert first.read_at is not None


def test_marking_read_twice_keeps_the_first_read_time(world):
    notification = make_notification(world.bob)
    client = signed_in(world.bob)
    client.post(reverse("notification-read", args=[notification.pk]))
    notification.refresh_from_db()
    first_read = notification.read_at
    client.post(reverse("notification-read", args=[notification.pk]))
    notification.refresh_from_db()
    assert notification.read_at == first_read


def test_it_answers_404_for_another_accounts_notification_and_changes_nothing(world):
    alices = make_notification(world.alice)
    response = signed_in(world.bob).post(reverse("notification-read", args=[alices.pk]))
    assert response.status_code == 404
    alices.refresh_from_db()
    assert alices.read_at is None


def test_it_marks_all_read_for_the_caller_only(world):
    mine = [make_notification(world.bob, f"n{i}") for i in range(3)]
    alices = make_notification(world.alice)
    response = signed_in(world.bob).post(reverse("notifications-read-all"))
    assert (response.status_code, response["Location"]) == (302, LIST)
    assert Notification.objects.filter(pk__in=[n.pk for n in mine], read_at=None).count() == 0
    alices.refresh_from_db()
    assert alices.read_at is None


def test_marking_read_needs_a_post_with_the_csrf_token(world):
    notification = make_notification(world.bob)
    client = signed_in(world.bob, enforce_csrf_checks=True)
    assert client.post(reverse("notification-read", args=[notification.pk])).status_code == 403
    assert client.post(reverse("notifications-read-all")).status_code == 403
    assert client.get(reverse("notification-read", args=[notification.pk])).status_code == 405
    notification.refresh_from_db()
    assert notification.read_at is None


def test_it_never_redirects_off_site_after_marking_read(world):
    notification = make_notification(world.bob)
    response = signed_in(world.bob).post(
        reverse("notification-read", args=[notification.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == LIST


# --- the navbar badge ----------------------------------------------------------------------------------------------


def test_the_navbar_shows_the_unread_count(world):
    make_notification(world.bob, "a")
    make_notification(world.bob, "b")
    make_notification(world.bob, "c", read=True)
    client = signed_in(world.bob)
    html = client.get("/").content.decode()
    assert 'data-testid="nav-notifications"' in html
    assert 'class="badge rounded-pill text-bg-danger" data-testid="unread-count">2<' in html
    client.post(reverse("notifications-read-all"))
    html = client.get("/").content.decode()
    assert 'class="badge rounded-pill text-bg-danger d-none" data-testid="unread-count">0<' in html


def _page_queries(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_the_badge_costs_one_query_however_many_are_unread(world):
    client = signed_in(world.bob)
    make_notification(world.bob)
    _page_queries(client, "/")  # warm the per-process caches
    few = _page_queries(client, "/")
    Notification.objects.bulk_create([Notification(recipient=world.bob, subject=f"n{i}") for i in range(60)])
    many = _page_queries(client, "/")
    assert len(many) == len(few)
    assert [sql for sql in many if "core_notification" in sql] == [sql for sql in few if "core_notification" in sql]
    assert len([sql for sql in many if "core_notification" in sql]) == 1
    assert ">61<" in client.get("/").content.decode()


def test_a_page_that_shows_no_badge_does_not_count(world, rf):
    from muster.core.views_notifications import unread_notifications

    request = rf.get("/")
    request.user = world.bob
    with CaptureQueriesContext(connection) as captured:
        context = unread_notifications(request)
    assert len(captured) == 0  # lazy: counted only when a template shows it
    make_notification(world.bob)
    assert int(str(context["unread_notifications"])) == 1


# --- e-mail: the worker sends it, never the request ----------------------------------------------------------------


class HangingBackend(BaseEmailBackend):
    """A mail server that never answers: send_messages blocks until released (or 30 s pass)."""

    release = threading.Event()
    calls: list = []

    def send_messages(self, messages):
        HangingBackend.calls.append(messages)
        HangingBackend.release.wait(30)
        return len(messages)


class FailingBackend(BaseEmailBackend):
    calls = 0

    def send_messages(self, messages):
        FailingBackend.calls += 1
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class ReentrantBackend(BaseEmailBackend):
    """While sending, another worker thread runs the sweep: it must not send the message being sent again."""

    sent: list = []
    nested: list = []
    started = False

    def send_messages(self, messages):
        if not ReentrantBackend.started:
            ReentrantBackend.started = True
            ReentrantBackend.nested.append(notify.send_emails())
        ReentrantBackend.sent.extend(messages)
        return len(messages)


@pytest.fixture
def inline_worker():
    """Huey in immediate mode: a queued task runs at once, in this thread (the worst case for a request)."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    try:
        yield HUEY
    finally:
        HUEY.immediate = False


@pytest.fixture
def queued(monkeypatch):
    """The worker task replaced by a recorder: what the on-commit hook queued, with nothing run."""
    from muster.core import tasks

    calls: list = []
    monkeypatch.setattr(tasks, "send_notification_emails", lambda ids: calls.append(list(ids)))
    return calls


def _loss_report(world, rifle):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=world.frank)[0].key}")
    body = {
        "item": rifle.pk, "kind": "lost", "circumstances": "Missing at the count.",
        "occurred_at": "2024-05-01T09:00:00Z", "place": "Range 2",
    }  # fmt: skip
    return client.post("/api/v1/loss-cases/", body, format="json")


def test_the_request_only_queues_the_mail_and_the_worker_sends_it(
    world, queued, settings, django_capture_on_commit_callbacks
):
    settings.MUSTER_BASE_URL = "https://muster.example.org"
    give_addresses(world)
    with django_capture_on_commit_callbacks(execute=True):
        notify.notify(
            [world.bob.pk, world.dave.pk, world.erin.pk],
            subject="Recall: AK-1",
            body="Bring it back.",
            url="/items/149/",
        )
    rows = {n.recipient_id: n for n in Notification.objects.all()}
    assert set(rows) == {world.bob.pk, world.dave.pk, world.erin.pk}
    assert mail.outbox == []  # nothing sent in the request
    pending = sorted(rows[pk].pk for pk in (world.bob.pk, world.dave.pk))
    assert queued == [pending]  # erin has no address: no e-mail for her
    assert (rows[world.erin.pk].email_status, rows[world.bob.pk].email_status) == ("", "pending")

    assert notify.send_emails(queued[0]) == {"sent": 2, "retry": 0, "failed": 0, "skipped": 0}
    assert sorted(message.to[0] for message in mail.outbox) == ["bob@unit-a.example", "dave@unit-a.example"]
    assert all(len(message.to) == 1 for message in mail.outbox)  # nobody sees who else was told
    message = mail.outbox[0]
    assert message.subject == "[Muster] Recall: AK-1"
    assert message.body == "Bring it back.\n\nhttps://muster.example.org/items/149/"
    sent = Notification.objects.filter(pk__in=pending)
    assert {(n.email_status, n.email_attempts, n.emailed_at is not None) for n in sent} == {("sent", 1, True)}
    assert notify.send_emails() == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}  # nothing twice


def test_the_queued_task_sends_the_mail_with_absolute_links(
    world, inline_worker, settings, django_capture_on_commit_callbacks
):
    settings.MUSTER_BASE_URL = "https://muster.example.org"
    give_addresses(world)
    with django_capture_on_commit_callbacks(execute=True):
        notify.notify([world.bob.pk], subject="Overdue: AK-1", url="/items/7/")
    assert [message.body for message in mail.outbox] == ["https://muster.example.org/items/7/"]
    assert Notification.objects.get().email_status == "sent"


def test_a_hanging_mail_server_does_not_hold_up_a_loss_report(world, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "muster.core.tests.test_notifications.HangingBackend"
    HangingBackend.release.clear()
    HangingBackend.calls = []
    give_addresses(world)
    rifle = make_item(world.armory_a, world.alice)
    started = time.monotonic()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = _loss_report(world, rifle)
        elapsed = time.monotonic() - started
    finally:
        HangingBackend.release.set()
    assert response.status_code == 201, response.content
    assert elapsed < 5 and HangingBackend.calls == []  # the request never touched the mail server
    assert LossCase.objects.filter(item=rifle).exists()
    told = Notification.objects.filter(subject__startswith="Loss case:")
    assert {n.recipient_id for n in told} >= {world.alice.pk, world.dave.pk}
    assert {n.email_status for n in told if n.recipient_id in (world.alice.pk, world.dave.pk)} == {"pending"}


def test_a_failing_mail_server_neither_fails_nor_rolls_back_a_loss_report(
    world, settings, inline_worker, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "muster.core.tests.test_notifications.FailingBackend"
    FailingBackend.calls = 0
    give_addresses(world)
    rifle = make_item(world.armory_a, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = _loss_report(world, rifle)  # the task runs at once here, and its sends fail
    assert response.status_code == 201, response.content
    assert LossCase.objects.filter(item=rifle).exists()
    assert FailingBackend.calls == 1  # the server is down: one try, the rest waits for the sweep
    mailed = Notification.objects.filter(recipient__in=[world.alice, world.dave], subject__startswith="Loss case:")
    assert mailed.count() == 2
    assert {n.email_status for n in mailed} == {"pending"} and not any(n.emailed_at for n in mailed)
    tried = mailed.get(email_attempts=1)
    assert tried.email_due_at > timezone.now()  # retried later
    assert mailed.exclude(pk=tried.pk).get().email_attempts == 0


def test_a_dead_mail_server_costs_one_try_per_sweep_not_one_per_mail(world, settings):
    settings.EMAIL_BACKEND = "muster.core.tests.test_notifications.FailingBackend"
    FailingBackend.calls = 0
    give_addresses(world)
    for account in (world.alice, world.bob, world.dave):
        make_notification(account, email_status="pending", email_due_at=timezone.now())
    assert notify.send_emails() == {"sent": 0, "retry": 1, "failed": 0, "skipped": 0}
    assert FailingBackend.calls == 1
    assert sorted(Notification.objects.values_list("email_attempts", flat=True)) == [0, 0, 1]


def test_an_unreachable_queue_leaves_the_mail_to_the_sweep(world, monkeypatch, django_capture_on_commit_callbacks):
    from muster.core import tasks

    def queue_down(ids):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks, "send_notification_emails", queue_down)
    give_addresses(world)
    with django_capture_on_commit_callbacks(execute=True):
        notify.notify([world.bob.pk], subject="Count due")
    assert Notification.objects.get().email_status == "pending"
    assert tasks.retry_notification_emails.call_local() == {"sent": 1, "retry": 0, "failed": 0, "skipped": 0}
    assert [message.to for message in mail.outbox] == [["bob@unit-a.example"]]


def test_a_failure_to_record_notifications_does_not_reach_the_caller(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Notification.objects, "bulk_create", broken)
    with django_capture_on_commit_callbacks(execute=True):
        notify.notify([world.bob.pk], subject="Lost")  # logged, not raised
    assert not Notification.objects.exists()


def test_a_hung_smtp_server_times_out_and_the_mail_waits_for_a_retry(world, settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections and never says a word
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", silent.getsockname()[1], 1
    settings.EMAIL_USE_TLS = False
    give_addresses(world)
    notification = make_notification(world.bob, email_status="pending", email_due_at=timezone.now())
    started = time.monotonic()
    try:
        outcome = notify.send_emails()
    finally:
        silent.close()
    assert time.monotonic() - started < 10
    assert outcome == {"sent": 0, "retry": 1, "failed": 0, "skipped": 0}
    notification.refresh_from_db()
    assert (notification.email_status, notification.email_attempts) == ("pending", 1)
    assert notification.email_due_at > timezone.now()


def test_the_mail_is_given_up_after_the_last_attempt(world, settings):
    settings.EMAIL_BACKEND = "muster.core.tests.test_notifications.FailingBackend"
    give_addresses(world)
    notification = make_notification(world.bob, email_status="pending", email_due_at=timezone.now())
    later = timezone.now()
    for _ in range(notify.EMAIL_MAX_ATTEMPTS):
        notify.send_emails(now=later)
        later += timedelta(days=1)
    notification.refresh_from_db()
    assert (notification.email_status, notification.email_attempts) == ("failed", notify.EMAIL_MAX_ATTEMPTS)
    assert notify.send_emails(now=later + timedelta(days=30)) == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}


def test_an_account_that_lost_its_address_is_skipped(world):
    notification = make_notification(world.bob, email_status="pending", email_due_at=timezone.now())
    assert notify.send_emails() == {"sent": 0, "retry": 0, "failed": 0, "skipped": 1}
    notification.refresh_from_db()
    assert notification.email_status == "" and mail.outbox == []


def test_a_claimed_mail_is_not_sent_again_by_a_second_sender(world, settings):
    settings.EMAIL_BACKEND = "muster.core.tests.test_notifications.ReentrantBackend"
    ReentrantBackend.sent, ReentrantBackend.nested, ReentrantBackend.started = [], [], False
    give_addresses(world)
    first = make_notification(world.bob, "first", email_status="pending", email_due_at=timezone.now())
    second = make_notification(world.dave, "second", email_status="pending", email_due_at=timezone.now())
    outer = notify.send_emails()
    # The second sender, started while the first was sending `first`, took `second` only; the first then found
    # `second` claimed and left it.
    assert ReentrantBackend.nested == [{"sent": 1, "retry": 0, "failed": 0, "skipped": 0}]
    assert outer == {"sent": 1, "retry": 0, "failed": 0, "skipped": 0}
    assert sorted(message.subject for message in ReentrantBackend.sent) == ["[Muster] first", "[Muster] second"]
    assert set(Notification.objects.filter(pk__in=[first.pk, second.pk]).values_list("email_attempts", flat=True)) == {
        1
    }


# --- settings and the worker's output ------------------------------------------------------------------------------


def test_absolute_url_joins_muster_paths_only(settings):
    settings.MUSTER_BASE_URL = "https://muster.example.org"
    assert notify.absolute_url("/items/149/") == "https://muster.example.org/items/149/"
    assert notify.absolute_url("https://elsewhere.example/x") == "https://elsewhere.example/x"
    assert notify.absolute_url("") == ""
