"""Authentication hardening: throttling per username and address, the audit trail, session lifetimes."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from muster.core.models import AuditEvent
from muster.core.testing import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def attempt(password: str, ip: str = "10.0.0.1", username: str = "alice"):
    client = Client(REMOTE_ADDR=ip)
    return client, client.post("/login/", {"username": username, "password": password})


def test_repeated_failures_lock_that_username_from_that_address_only(world, throttled):
    for _ in range(3):
        _, response = attempt("wrong")
    assert response.status_code == 429
    _, response = attempt(PASSWORD)  # the right password, same address: still locked
    assert response.status_code == 429
    client, response = attempt(PASSWORD, ip="10.0.0.2")  # another address is not locked out
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    assert AuditEvent.objects.filter(kind="login_failed", username="alice").count() >= 3


def test_logins_and_logouts_are_recorded_with_the_address(world):
    client, response = attempt(PASSWORD, ip="10.9.8.7")
    assert response.status_code == 302
    client.post("/logout/")
    kinds = list(AuditEvent.objects.filter(username="alice").order_by("at").values_list("kind", "ip"))
    assert kinds == [("login", "10.9.8.7"), ("logout", "10.9.8.7")]


def test_a_new_session_key_at_login(world):
    client = Client(REMOTE_ADDR="10.0.0.3")
    client.get("/login/")
    before = client.session.session_key
    client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert client.session.session_key != before


def test_a_session_ends_after_its_absolute_lifetime(world, settings):
    client, _ = attempt(PASSWORD, ip="10.0.0.4")
    assert client.get("/").status_code == 200
    session = client.session
    session["muster_login_at"] = (timezone.now() - timedelta(hours=13)).timestamp()
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_a_disabled_account_loses_its_session_at_once(world):
    client, _ = attempt(PASSWORD, ip="10.0.0.5")
    world.alice.is_active = False
    world.alice.save()
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_api_refusals_are_audited(world):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.erin)  # an auditor may not issue
    response = api.post("/api/v1/custody/issue", {"item": "X", "member": "Y"}, format="json")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(kind="refused", username="erin").exists()


def test_a_newline_in_a_username_cannot_forge_an_audit_log_line(client, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="muster.audit"):
        client.post("/login/", {"username": "mallory\nlogin user=dave ip=1.2.3.4", "password": "wrong-password"})
    lines = [record.getMessage() for record in caplog.records if record.name == "muster.audit"]
    assert lines == ["login_failed user=mallory\\x0alogin user=dave ip=1.2.3.4 ip=127.0.0.1 path=/login/ "]
    assert all("\n" not in line for line in lines)
