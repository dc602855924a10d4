"""The audit trail (docs/security.md *Logs*, ASVS V16.2-16.4): the client's address behind proxies (the same for
axes), the successful token exchange and countersign, refused web and CLI requests, rule refusals (409) on every
face and API requests over their rate (429), and the table's protection (append-only triggers on SQLite and
PostgreSQL, accounts protected)."""

import pytest
from axes.helpers import get_client_ip_address
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from muster.core import audit_triggers
from muster.core.models import AuditEvent
from muster.core.testing import PASSWORD, make_account
from muster.core.tests.test_refusals import unchanged
from muster.core.tests.test_security_throttling import rates  # noqa: F401 — the fixture: small rates, throttling on
from muster.core.tests.test_totp import _age_failures, code_for, enrolled, password_login, wrong_code
from muster.custody.models import HolderKind, Item
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.test_web import login
from muster.members.models import Account, RoleAssignment
from muster.training.testing import make_qualification

pytestmark = pytest.mark.django_db


# --- the client's address behind proxies (G14) ---------------------------------------------------------------------


def behind(settings, proxies: int) -> None:
    """What settings.py derives from MUSTER_PROXY_COUNT (core/tests/test_settings.py checks the derivation)."""
    settings.AXES_IPWARE_PROXY_COUNT = proxies - 1 if proxies else None
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = (
        ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if proxies else ("REMOTE_ADDR",)
    )


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "192.0.2.10"),
        (0, "203.0.113.7", "192.0.2.10"),  # no proxy: a header the client sends is ignored
        (1, "203.0.113.7", "203.0.113.7"),  # one proxy: the address it saw
        (1, "10.20.30.40", "10.20.30.40"),  # a client on the unit's own network
        (1, "198.51.100.9, 203.0.113.7", "192.0.2.10"),  # the client added an entry: not trusted
        (1, None, "192.0.2.10"),  # reached without the proxy
        (2, "203.0.113.7, 198.51.100.2", "203.0.113.7"),  # two proxies: the first one's view
        (2, "203.0.113.7", "192.0.2.10"),  # too short for two proxies: not trusted
        (1, "not-an-address", "192.0.2.10"),
    ],
)
def test_the_client_address_is_resolved_as_axes_resolves_it(settings, proxies, forwarded, expected):
    from muster.core.audit import client_ip

    behind(settings, proxies)
    headers = {"REMOTE_ADDR": "192.0.2.10"}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **headers)
    assert client_ip(request) == expected
    assert get_client_ip_address(request) == expected  # axes asks the same function


def test_behind_a_proxy_logins_and_lockouts_name_the_client_not_the_proxy(world, settings):
    behind(settings, 1)
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 2

    def attempt(client_address: str, password: str):
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=client_address)
        return client.post("/login/", {"username": "alice", "password": password})

    for _ in range(2):
        attempt("203.0.113.7", "wrong-password")
    assert attempt("203.0.113.7", PASSWORD).status_code == 429  # that client is locked out
    assert attempt("203.0.113.8", PASSWORD).status_code == 302  # another client behind the same proxy is not
    failed = AuditEvent.objects.filter(kind="login_failed")
    assert set(failed.values_list("ip", flat=True)) == {"203.0.113.7"}
    assert AuditEvent.objects.get(kind="login").ip == "203.0.113.8"


# --- successful token exchange and countersign (G16) ---------------------------------------------------------------


def test_a_successful_token_exchange_is_recorded_with_the_address(world):
    response = APIClient(REMOTE_ADDR="10.90.0.1").post(
        "/api/v1/auth/token", {"username": "bob", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(kind="token_issued")
    assert (event.account, event.ip, event.path) == (world.bob, "10.90.0.1", "/api/v1/auth/token")
    assert event.detail == "own API token handed out (new)"
    assert response.json()["token"] not in event.detail
    APIClient(REMOTE_ADDR="10.90.0.1").post("/api/v1/auth/token", {"username": "bob", "password": PASSWORD})
    assert list(AuditEvent.objects.filter(kind="token_issued").order_by("pk").values_list("detail", flat=True)) == [
        "own API token handed out (new)",
        "own API token handed out (existing)",
    ]
    assert not AuditEvent.objects.filter(kind="countersigned").exists()  # a sign-in, not a countersign


@pytest.fixture
def rifle(world):
    """An item of a type that needs a qualification bob lacks: an issue to him needs a commander's override."""
    item_type = make_item_type("AK-74M assault rifle")
    item_type.required_qualifications.set([make_qualification("rifle-ak")])
    return make_item(world.armory_a, world.alice, item_type=item_type, serial="A-1")


def test_a_successful_countersign_in_the_api_is_recorded_naming_the_commander_and_the_counter(world, rifle):
    api = APIClient(REMOTE_ADDR="10.90.0.2")
    api.force_authenticate(world.alice)
    override = {"commander": "dave", "commander_password": PASSWORD, "reason": "Range day, refresher on Monday."}
    response = api.post("/api/v1/custody/issue", {"item": rifle.pk, "member": world.bob_member.member_no,
                                                  "override": override}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(kind="countersigned")
    assert (event.account, event.ip, event.path) == (world.dave, "10.90.0.2", "/api/v1/custody/issue")
    assert event.detail == "countersign at the account alice"
    assert Item.objects.get(pk=rifle.pk).holder_member == world.bob_member


def test_a_successful_countersign_at_the_counter_is_recorded(client, world, rifle):
    login(client, world.alice)
    body = {"serial": "A-1", "member_no": world.bob_member.member_no, "override_commander": "dave",
            "override_password": PASSWORD, "override_reason": "Range day, refresher on Monday."}  # fmt: skip
    response = client.post("/custody/issue/", body, REMOTE_ADDR="10.90.0.3")
    assert response.status_code in (200, 302), response.content
    event = AuditEvent.objects.get(kind="countersigned")
    assert (event.account, event.ip, event.path, event.detail) == (
        world.dave, "10.90.0.3", "/custody/issue/", "countersign at the account alice"
    )  # fmt: skip
    assert Item.objects.get(pk=rifle.pk).holder_member == world.bob_member


def test_a_sign_in_is_recorded_once_as_a_login(world):
    Client(REMOTE_ADDR="10.90.0.4").post("/login/", {"username": "bob", "password": PASSWORD})
    assert list(AuditEvent.objects.values_list("kind", flat=True)) == ["login"]


# --- refused web requests and CLI refusals (G17) -------------------------------------------------------------------


def test_a_web_403_is_recorded_with_the_account_address_and_reason(client, world):
    client.force_login(world.erin)  # an auditor: no counter
    response = client.get("/custody/issue/", REMOTE_ADDR="10.90.1.1")
    assert response.status_code == 403
    event = AuditEvent.objects.get(kind="refused")
    assert (event.account, event.username, event.ip, event.path) == (world.erin, "erin", "10.90.1.1", "/custody/issue/")
    assert event.detail == "permission_denied: Only armorers may issue or return items."


def test_an_out_of_scope_404_is_recorded_with_the_lookups_code(client, world):
    client.force_login(world.bob)
    response = client.get(f"/members/{world.member_b.member_no}/", REMOTE_ADDR="10.90.1.2")
    assert response.status_code == 404
    event = AuditEvent.objects.get(kind="refused")
    assert (event.account, event.ip, event.path) == (world.bob, "10.90.1.2", f"/members/{world.member_b.member_no}/")
    assert event.detail.startswith("member_not_found: ")


def test_a_path_that_matches_no_route_is_not_recorded(client, world):
    client.force_login(world.bob)
    assert client.get("/no-such-page/").status_code == 404
    assert client.get("/wp-admin/setup.php").status_code == 404
    assert not AuditEvent.objects.filter(kind="refused").exists()


def test_the_cli_records_an_unknown_or_disabled_acting_account_and_a_services_refusal(world):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    Account.objects.filter(pk=world.carol.pk).update(is_active=False)
    for acting, code in (("nobody", 4), ("carol", 4), ("erin", 4)):
        with pytest.raises(CommandError) as refused:
            call_command("user", "grant", "frank", "--role", "auditor", "--unit", "A", "--as", acting)
        assert refused.value.returncode == code
    rows = list(AuditEvent.objects.filter(kind="refused").order_by("pk").values_list("username", "account", "detail"))
    assert rows == [
        ("nobody", None, "muster user: account_not_found: no account named 'nobody'"),
        ("carol", world.carol.pk, "muster user: account_disabled: account 'carol' is disabled"),
        ("erin", world.erin.pk, "muster user: not_commander: erin is not a commander of A; cannot grant roles on it."),
    ]
    assert all(ip is None for ip in AuditEvent.objects.values_list("ip", flat=True))


# --- rule refusals (409) and requests over their rate (429) (G17, ASVS 16.3.3) -------------------------------------


def test_a_rule_refusal_in_the_api_is_recorded_and_nothing_else_is_written(world):
    item = make_item(world.armory_a, world.alice, serial="A-9")  # in its armory: there is nothing to return
    api = APIClient(REMOTE_ADDR="10.90.4.1")
    api.force_authenticate(world.alice)
    with unchanged():
        response = api.post("/api/v1/custody/return", {"item": item.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "item_not_issued")
    event = AuditEvent.objects.get(kind="rule_refused")
    assert (event.account, event.username, event.ip, event.path) == (
        world.alice, "alice", "10.90.4.1", "/api/v1/custody/return"
    )  # fmt: skip
    assert event.detail == f"item_not_issued: {response.json()['detail']}"
    assert not AuditEvent.objects.filter(kind="refused").exists()  # a rule's refusal, not a missing role


def test_a_rule_refusal_shown_in_a_web_form_is_recorded(client, world):
    make_item(world.armory_a, world.alice, serial="AK-HOME")
    login(client, world.alice)
    with unchanged():
        response = client.post("/custody/return/", {"serial": "AK-HOME"}, REMOTE_ADDR="10.90.4.2")
    assert response.status_code == 409 and "[item_not_issued]" in response.content.decode()
    event = AuditEvent.objects.get(kind="rule_refused")
    assert (event.account, event.ip, event.path) == (world.alice, "10.90.4.2", "/custody/return/")
    assert event.detail.startswith("item_not_issued: ") and "AK-HOME" in event.detail
    assert Item.objects.get(serial_number="AK-HOME").holder_kind == HolderKind.ARMORY


def test_a_rule_refusal_in_the_cli_is_recorded_naming_the_command(world):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with unchanged(), pytest.raises(CommandError) as refused:
        call_command("user", "grant", "alice", "--role", "armorer", "--unit", "A", "--as", "dave")
    assert refused.value.returncode == 3
    rows = list(AuditEvent.objects.filter(kind="rule_refused").values_list("username", "account", "ip", "detail"))
    assert rows == [("dave", world.dave.pk, None, "muster user: role_held: alice is already armorer of A.")]
    assert RoleAssignment.objects.filter(account=world.alice).count() == 1


def test_a_refusal_its_service_records_itself_is_not_recorded_twice(world, settings):
    # A code refused while wrong ones slow the next try is core.otp's `otp_failed` record; the page's 409 adds none.
    settings.MUSTER_REQUIRE_TOTP = True
    device = enrolled(world.dave)
    client = password_login("dave", ip="10.90.4.3")
    assert client.post("/login/code/", {"code": wrong_code(device)}).status_code == 400
    _age_failures(device, -60)  # the wait surely not over
    response = client.post("/login/code/", {"code": code_for(device)})
    assert response.status_code == 409 and "otp_throttled" in response.content.decode()
    kinds = list(AuditEvent.objects.filter(account=world.dave).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["login", "otp_failed", "otp_failed"]


@pytest.mark.usefixtures("rates")
def test_an_api_request_over_its_rate_is_recorded_once_a_minute(world):
    alice = APIClient(REMOTE_ADDR="10.90.5.1")
    alice.force_authenticate(world.alice)
    answers = [alice.get("/api/v1/items/").status_code for _ in range(8)]
    assert answers == [200] * 5 + [429] * 3  # the account rate: 5/minute
    event = AuditEvent.objects.get(kind="throttled")  # one record, however many 429s within the minute
    assert (event.account, event.ip, event.path) == (world.alice, "10.90.5.1", "/api/v1/items/")
    assert event.detail.startswith("throttled: over the account rate 5/minute, retry after ")
    assert APIClient(REMOTE_ADDR="10.90.5.2").get("/api/v1/items/").status_code == 401  # no rate counted: no record

    dave = APIClient(REMOTE_ADDR="10.90.5.1")  # another account at the same address is counted, and recorded, apart
    dave.force_authenticate(world.dave)
    assert [dave.get("/api/v1/items/").status_code for _ in range(7)] == [200] * 5 + [429] * 2
    rows = AuditEvent.objects.filter(kind="throttled").order_by("pk").values_list("account", "path")
    assert list(rows) == [(world.alice.pk, "/api/v1/items/"), (world.dave.pk, "/api/v1/items/")]


@pytest.mark.usefixtures("rates")
def test_a_stranger_over_the_token_endpoints_rate_is_recorded_by_address(world):
    stranger = APIClient(REMOTE_ADDR="10.90.5.3")
    body = {"username": "bob", "password": "not the password"}
    answers = [stranger.post("/api/v1/auth/token", body, format="json").status_code for _ in range(7)]
    assert answers == [400] * 3 + [429] * 4  # the token rate: 3/minute per address; the anonymous one: 4/minute
    events = AuditEvent.objects.filter(kind="throttled").order_by("pk")
    assert {(event.account, event.username, event.ip, event.path) for event in events} == {
        (None, "", "10.90.5.3", "/api/v1/auth/token")
    }
    # One record per rate and minute: the token rate's first refusal, then the anonymous rate's (with the token's).
    assert [event.detail.partition(", retry")[0] for event in events] == [
        "throttled: over the token rate 3/minute",
        "throttled: over the anonymous rate 4/minute, token rate 3/minute",
    ]
    assert AuditEvent.objects.filter(kind="login_failed").count() == 3  # the wrong passwords the endpoint read


# --- the table cannot be altered (G19) -----------------------------------------------------------------------------


def test_the_database_refuses_to_alter_or_delete_audit_events(world):
    event = AuditEvent.objects.create(kind="login", account=world.bob, username="bob", ip="10.90.2.1")
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(detail="nothing happened"),
        lambda: AuditEvent.objects.filter(pk=event.pk).update(account=None),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            attempt()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent")  # raw SQL: the trigger, not the ORM, refuses
    event.refresh_from_db()
    assert (event.detail, event.account_id) == ("", world.bob.pk)
    assert AuditEvent.objects.count() == 1


def test_truncate_is_refused_on_postgresql_while_the_table_has_rows(world):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    AuditEvent.objects.create(kind="login", username="bob")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the insert's deferred key checks, else TRUNCATE waits on them
        cursor.execute("TRUNCATE core_auditevent CASCADE")
    assert AuditEvent.objects.count() == 1


def test_an_account_with_audit_events_cannot_be_deleted_only_disabled(world):
    olena = make_account("olena")
    AuditEvent.objects.create(kind="login", account=olena, username="olena")
    with pytest.raises(ProtectedError), transaction.atomic():
        olena.delete()
    assert Account.objects.filter(pk=olena.pk).exists()
    make_account("petro").delete()  # an account with no audit event may go


@pytest.mark.django_db(transaction=True)
def test_a_test_with_real_transactions_is_cleaned_up_around_the_triggers(world):
    # conftest.pytest_runtest_teardown empties the audit trail (audit_triggers.purge) before the flush.
    Client(REMOTE_ADDR="10.90.3.1").post("/login/", {"username": "bob", "password": PASSWORD})
    assert AuditEvent.objects.filter(kind="login", username="bob").count() == 1
    audit_triggers.purge()
    assert not AuditEvent.objects.exists()
    AuditEvent.objects.create(kind="login", username="bob")  # left for the teardown to purge
