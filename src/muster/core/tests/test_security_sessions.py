"""Each account's signed-in sessions (docs/security.md *Sessions*, ASVS 7.4.5 and 7.5.2): recorded at login and kept
in step with their key, listed on /account/sessions/ and ended there with the password; ended for one account or
every account by `muster user logout` and the admin's action."""

import io
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from muster.core import sessions
from muster.core.errors import NotPermitted
from muster.core.models import AccountSession, AuditEvent
from muster.core.testing import PASSWORD
from muster.core.tests.test_totp import code_for, enrolled
from muster.members import credentials
from muster.members import services as members
from muster.members.models import Account

pytestmark = pytest.mark.django_db


def sign_in(username: str, ip: str, agent: str = "") -> Client:
    client = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent or f"Browser at {ip}")
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def records(account) -> list[AccountSession]:
    return list(AccountSession.objects.filter(account=account).order_by("pk"))


# --- the record ----------------------------------------------------------------------------------------------------


def test_a_login_records_its_session_with_the_address_and_browser(world):
    client = sign_in("alice", "10.80.0.1", "Mozilla/5.0 (X11; Linux) Firefox/140.0")
    [record] = records(world.alice)
    assert record.session_key == client.session.session_key
    assert (record.ip, record.user_agent) == ("10.80.0.1", "Mozilla/5.0 (X11; Linux) Firefox/140.0")
    assert abs(record.started_at - timezone.now()) < timedelta(minutes=1)
    client.post("/logout/")
    assert records(world.alice) == []


def test_the_record_follows_the_session_key_through_the_second_factor(world, settings):
    settings.MUSTER_REQUIRE_TOTP = True
    device = enrolled(world.alice)
    client = sign_in("alice", "10.80.0.2")
    before = client.session.session_key
    assert client.post("/login/code/", {"code": code_for(device)})["Location"] == "/"
    after = client.session.session_key
    assert after != before
    assert [record.session_key for record in records(world.alice)] == [after]


def test_last_seen_is_written_at_most_once_a_minute(world):
    client = sign_in("bob", "10.80.0.3")
    [record] = records(world.bob)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    AccountSession.objects.filter(pk=record.pk).update(last_seen_at=an_hour_ago)
    assert signed_in(client)
    assert AccountSession.objects.get(pk=record.pk).last_seen_at == an_hour_ago  # seen under a minute ago: no write
    session = client.session
    session[sessions.SEEN_KEY] -= 120
    session.save()
    assert signed_in(client)
    assert abs(AccountSession.objects.get(pk=record.pk).last_seen_at - timezone.now()) < timedelta(minutes=1)


def test_expired_sessions_are_not_listed_and_are_dropped_at_the_next_login(world):
    old = sign_in("bob", "10.80.0.4")
    Session.objects.filter(session_key=old.session.session_key).update(expire_date=timezone.now() - timedelta(1))
    assert list(sessions.active(world.bob)) == []
    sign_in("bob", "10.80.0.5")
    assert [record.ip for record in records(world.bob)] == ["10.80.0.5"]


# --- the page (G13) ------------------------------------------------------------------------------------------------


def test_the_page_lists_the_accounts_own_sessions_only(world):
    laptop = sign_in("bob", "10.80.1.1", "Laptop browser")
    sign_in("bob", "10.80.1.2", "Counter browser")
    sign_in("alice", "10.80.1.3", "Alice's browser")
    page = laptop.get("/account/sessions/")
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]
    rows = page.context["rows"]
    assert sorted(row.ip for row in rows) == ["10.80.1.1", "10.80.1.2"]
    html = page.content.decode()
    assert "Laptop browser" in html and "Counter browser" in html and "Alice's browser" not in html
    assert html.count('data-testid="session-current"') == 1 and page.context["others"] == 1


def test_ending_another_session_needs_the_password_and_signs_that_browser_out(world):
    laptop, counter = sign_in("bob", "10.80.2.1"), sign_in("bob", "10.80.2.2")
    target = AccountSession.objects.get(account=world.bob, ip="10.80.2.2")
    refused = laptop.post("/account/sessions/", {"session": target.pk, "password": "not-the-password"})
    assert refused.status_code == 400 and "That is not your password." in str(refused.context["form"].errors)
    assert signed_in(counter) and AccountSession.objects.filter(pk=target.pk).exists()

    response = laptop.post("/account/sessions/", {"session": target.pk, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/sessions/"
    assert not signed_in(counter) and signed_in(laptop)
    assert not Session.objects.filter(session_key=target.session_key).exists()
    assert [record.ip for record in records(world.bob)] == ["10.80.2.1"]
    event = AuditEvent.objects.get(kind="sessions_ended")
    assert (event.account, event.ip, event.path) == (world.bob, "10.80.2.1", "/account/sessions/")
    assert event.detail.startswith("own session ended (started ") and event.detail.endswith("from 10.80.2.2)")


def test_ending_all_others_keeps_this_one(world):
    laptop = sign_in("bob", "10.80.3.1")
    others = [sign_in("bob", f"10.80.3.{n}") for n in (2, 3, 4)]
    response = laptop.post("/account/sessions/", {"password": PASSWORD})
    assert response.status_code == 302
    assert signed_in(laptop) and not any(signed_in(client) for client in others)
    assert [record.ip for record in records(world.bob)] == ["10.80.3.1"]
    assert AuditEvent.objects.get(kind="sessions_ended").detail == "3 of own session(s) ended"


def test_another_accounts_session_is_not_found_and_the_refusal_is_recorded(world):
    bob = sign_in("bob", "10.80.4.1")
    alice = sign_in("alice", "10.80.4.2")
    target = AccountSession.objects.get(account=world.alice)
    response = bob.post("/account/sessions/", {"session": target.pk, "password": PASSWORD})
    assert response.status_code == 404
    assert signed_in(alice) and AccountSession.objects.filter(pk=target.pk).exists()
    refused = AuditEvent.objects.get(kind="refused")
    assert (refused.account, refused.ip, refused.path) == (world.bob, "10.80.4.1", "/account/sessions/")
    assert refused.detail == "not_found: No such session of yours."


def test_the_current_session_is_ended_by_logging_out_not_here(world):
    client = sign_in("bob", "10.80.5.1")
    [record] = records(world.bob)
    response = client.post("/account/sessions/", {"session": record.pk, "password": PASSWORD})
    assert response.status_code == 400 and "log out instead" in response.content.decode()
    assert signed_in(client)


def test_the_end_session_service_refuses_another_accounts_record(world):
    sign_in("alice", "10.80.5.2")
    [record] = records(world.alice)
    with pytest.raises(NotPermitted) as refused:
        credentials.end_session(actor=world.bob, record=record)
    assert refused.value.code == "not_session_owner"
    assert records(world.alice) == [record]


# --- administrators: the CLI and the admin (G11) -------------------------------------------------------------------


def command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def root(world):
    return Account.objects.create_superuser(username="root", password=PASSWORD)


def test_muster_user_logout_ends_one_accounts_sessions_and_with_tokens_its_token(world, root):
    bobs = [sign_in("bob", "10.80.6.1"), sign_in("bob", "10.80.6.2")]
    alice = sign_in("alice", "10.80.6.3")
    members.issue_token(account=world.bob, actor=world.bob)
    assert command("user", "logout", "bob", "--as", "root") == "2 session(s) of bob ended"
    assert not any(signed_in(client) for client in bobs) and signed_in(alice)
    assert Token.objects.filter(user=world.bob).exists()
    sign_in("bob", "10.80.6.4")
    assert command("user", "logout", "bob", "--tokens", "--as", "root") == (
        "1 session(s) of bob ended, 1 API token(s) deleted"
    )
    assert not Token.objects.filter(user=world.bob).exists()
    assert list(AuditEvent.objects.filter(kind="sessions_ended").values_list("account__username", "detail")) == [
        ("root", "1 of bob's session(s) ended; 1 API token deleted"),
        ("root", "2 of bob's session(s) ended"),
    ]


def test_muster_user_logout_all_ends_every_accounts_sessions(world, root):
    clients = [sign_in(name, f"10.80.7.{n}") for n, name in enumerate(("bob", "alice", "dave"), start=1)]
    for account in (world.bob, world.alice):
        members.issue_token(account=account, actor=account)
    assert command("user", "logout", "--all", "--tokens", "--as", "root") == (
        "3 session(s) of every account ended, 2 API token(s) deleted"
    )
    assert not any(signed_in(client) for client in clients)
    assert not AccountSession.objects.exists() and not Token.objects.exists()


def test_an_account_may_end_its_own_sessions_but_not_others_and_the_refusal_is_recorded(world, root):
    bob = sign_in("bob", "10.80.8.1")
    alice = sign_in("alice", "10.80.8.2")
    assert command("user", "logout", "bob", "--as", "bob") == "1 session(s) of bob ended"
    assert not signed_in(bob)
    for args in (("alice", "--as", "dave"), ("--all", "--as", "dave")):
        with pytest.raises(CommandError) as refused:
            call_command("user", "logout", *args)
        assert refused.value.returncode == 4
    assert signed_in(alice)
    details = list(AuditEvent.objects.filter(kind="refused").order_by("pk").values_list("account__username", "detail"))
    assert details == [
        ("dave", "muster user: not_session_owner: Only alice or a superuser may end these sessions."),
        ("dave", "muster user: superuser_required: Only a superuser may end every account's sessions."),
    ]


def test_muster_user_logout_needs_one_account_or_all(world, root):
    for args in ((), ("bob", "--all")):
        with pytest.raises(CommandError) as refused:
            call_command("user", "logout", *args, "--as", "root")
        assert refused.value.returncode == 2


def test_the_admin_action_ends_the_selected_accounts_sessions(world, root, settings):
    bob, alice = sign_in("bob", "10.80.9.1"), sign_in("alice", "10.80.9.2")
    members.issue_token(account=world.bob, actor=world.bob)
    admin = Client()
    admin.force_login(root)
    response = admin.post(
        "/admin/members/account/",
        {"action": "end_sessions_and_tokens", "_selected_action": [world.bob.pk, root.pk]},
    )
    assert response.status_code == 302
    assert not signed_in(bob) and signed_in(alice) and admin.get("/admin/").status_code == 200  # the admin's stays
    assert not Token.objects.filter(user=world.bob).exists()
    response = admin.post("/admin/members/account/", {"action": "end_sessions", "_selected_action": [world.alice.pk]})
    assert response.status_code == 302 and not signed_in(alice)
    assert AuditEvent.objects.filter(kind="sessions_ended", account=root).count() == 3
