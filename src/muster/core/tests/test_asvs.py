"""OWASP ASVS 5.0 Level 2 requirements that no other test showed (docs/security.md maps every requirement to its
test). Each test names the requirement it shows; it exercises behaviour that already exists, through the faces a
person or a program uses, and asserts the resulting state."""

import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_otp import util as otp_util
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp import models as totp_models
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core import otp
from muster.core.errors import Invalid
from muster.core.models import AuditEvent, ChangeRecord
from muster.core.testing import PASSWORD, make_account
from muster.core.tests.test_totp import enrolled, verified_client
from muster.custody.forms import IssueForm
from muster.custody.models import Item
from muster.custody.testing import make_item
from muster.members import services as members
from muster.members.models import Account, Role

pytestmark = pytest.mark.django_db

ARGON2 = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
STATIC = Path(__file__).resolve().parents[2] / "static" / "muster"


def sign_in(username: str, password: str = PASSWORD, ip: str = "10.20.0.1") -> tuple[Client, int]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/login/", {"username": username, "password": password})
    return client, response.status_code


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- V6.2 passwords ------------------------------------------------------------------------------------------------


def test_v6_2_4_a_common_password_long_enough_is_refused_at_account_creation(world):
    with pytest.raises(Invalid) as refused:
        members.create_account(username="olena", role=Role.MEMBER, unit=world.unit_a, actor=world.dave,
                               password="password123")  # fmt: skip
    assert refused.value.code == "password_rejected" and "too common" in refused.value.detail
    assert not Account.objects.filter(username="olena").exists()


def test_v6_2_6_and_v6_2_7_password_fields_are_masked_and_left_to_password_managers(client):
    page = client.get("/login/").content.decode()
    [password_input] = re.findall(r"<input[^>]*name=\"password\"[^>]*>", page)
    assert 'type="password"' in password_input and 'autocomplete="current-password"' in password_input
    form = IssueForm()  # the member's PIN and the commander's countersign password, as the counter renders them
    for name in ("pin", "override_password"):
        assert re.search(r'<input type="password"', str(form[name])), str(form[name])
    scripts = [path.read_text() for path in STATIC.glob("*.js")]
    assert scripts and not any("paste" in text for text in scripts)  # nothing intercepts pasting


def test_v6_2_8_the_password_is_checked_exactly_as_typed(world, settings):
    settings.PASSWORD_HASHERS = ARGON2  # the production hasher: no truncation at 72 bytes as with bcrypt
    password = "Ein langer Satz als Passwort, " * 3 + "mit Ende!"
    make_account("olena")
    account = Account.objects.get(username="olena")
    account.set_password(password)
    account.save()
    assert account.password.startswith("argon2$")
    for wrong in (password[:-1], password[:72], password.upper(), password.lower(), f" {password}", f"{password} "):
        client, status = sign_in("olena", wrong)
        assert status == 200 and not signed_in(client), repr(wrong)
    client, status = sign_in("olena", password)
    assert status == 302 and signed_in(client)


def test_v6_2_9_a_password_of_128_characters_is_accepted_at_creation_and_at_sign_in(world, settings):
    settings.PASSWORD_HASHERS = ARGON2
    password = "correct horse battery staple, and then some more words " * 3
    password = password[:128]
    members.create_account(username="olena", role=Role.MEMBER, unit=world.unit_a, actor=world.dave, password=password)
    client, status = sign_in("olena", password)
    assert status == 302 and signed_in(client)
    token = APIClient().post("/api/v1/auth/token", {"username": "olena", "password": password}, format="json")
    assert token.status_code == 200 and Token.objects.filter(user__username="olena").exists()


def test_v6_2_10_a_password_set_years_ago_still_signs_in_without_a_forced_change(world):
    long_ago = timezone.now() - timedelta(days=3 * 365)
    Account.objects.filter(pk=world.bob.pk).update(date_joined=long_ago, last_login=long_ago)
    client, status = sign_in("bob")
    assert status == 302 and signed_in(client)
    assert client.get("/").status_code == 200


# --- V6.3 / V6.4 general authentication and recovery --------------------------------------------------------------


def test_v6_3_1_and_v6_3_4_the_token_endpoint_is_throttled_like_the_login_page(world, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3

    def token(password: str, ip: str):
        body = {"username": "bob", "password": password}
        return APIClient(REMOTE_ADDR=ip).post("/api/v1/auth/token", body, format="json")

    for _ in range(3):
        assert token("wrong", "10.30.0.1").status_code == 400
    locked = token(PASSWORD, "10.30.0.1")  # the right password from the same address: still refused
    assert locked.status_code == 400 and not Token.objects.filter(user=world.bob).exists()
    assert token(PASSWORD, "10.30.0.2").status_code == 200  # another address is not locked out
    failures = AuditEvent.objects.filter(kind="login_failed", username="bob", path="/api/v1/auth/token")
    assert failures.count() == 4 and set(failures.values_list("ip", flat=True)) == {"10.30.0.1"}


def test_v6_3_2_a_fresh_database_holds_no_account():
    # Migrations create no default or administrator account; the first one comes from `muster createsuperuser`.
    assert not Account.objects.exists()
    assert not totp_models.TOTPDevice.objects.exists()


def test_v6_4_2_sign_in_asks_for_nothing_but_username_and_password(client):
    page = client.get("/login/").content.decode()
    names = set(re.findall(r"<input[^>]*\bname=\"([^\"]+)\"", page))
    assert names == {"csrfmiddlewaretoken", "next", "username", "password"}
    fields = {field.name for field in Account._meta.get_fields()}
    assert not {name for name in fields if re.search(r"hint|question|answer", name)}


def test_v6_4_3_and_v7_4_3_an_admins_password_reset_ends_the_sessions_and_keeps_the_second_factor(world, settings):
    settings.MUSTER_REQUIRE_TOTP = True
    enrolled(world.alice)
    alice = verified_client(world.alice)
    assert alice.get("/").status_code == 200
    root = verified_client(Account.objects.create_superuser(username="root", password=PASSWORD))
    new_password = "a-new-long-unusual-passphrase-17"
    url = f"/admin/members/account/{world.alice.pk}/password/"
    response = root.post(url, {"password1": new_password, "password2": new_password, "usable_password": "true"})
    assert response.status_code == 302, response.content
    # V7.4.3: every session of the account ends when its password is set.
    assert alice.get("/")["Location"].startswith("/login/")
    client, status = sign_in("alice", new_password)
    assert status == 302
    assert client.get("/")["Location"].startswith("/login/code/")  # the authenticator is still asked for
    assert totp_models.TOTPDevice.objects.filter(user=world.alice, confirmed=True).count() == 1


# --- V6.5 TOTP -----------------------------------------------------------------------------------------------------


def test_v6_5_3_the_totp_secret_is_160_bits_from_the_operating_systems_random_source(world, monkeypatch):
    drawn = []

    def urandom(size: int) -> bytes:
        drawn.append(size)
        return os.urandom(size)

    monkeypatch.setattr(otp_util, "urandom", urandom)
    first = otp.start_enrolment(account=world.alice)
    second = otp.start_enrolment(account=world.dave)
    assert drawn == [20, 20]
    assert re.fullmatch(r"[0-9a-f]{40}", first.key) and first.key != second.key


def test_v6_5_5_a_code_counts_only_in_its_own_30_second_step(world, monkeypatch):
    now = (int(timezone.now().timestamp()) // 30) * 30 + 15  # the middle of a step: no boundary during the test
    monkeypatch.setattr(totp_models, "time", SimpleNamespace(time=lambda: now))

    def code(device, steps: int) -> str:
        generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        generator.time = now + steps * device.step
        return f"{generator.token():06d}"

    for name, steps in (("alice", -1), ("dave", 1), ("erin", -2)):  # the step before, after, and older
        device = enrolled(getattr(world, name))
        with pytest.raises(Invalid) as refused:
            otp.verify_code(account=getattr(world, name), code=code(device, steps))
        assert refused.value.code == "otp_invalid"
        device.refresh_from_db()
        assert device.last_t == -1 and device.throttling_failure_count == 1
    # A device set up with one step of tolerance (the admin's form offers it; devices from before 0010) gets none.
    frank = TOTPDevice.objects.create(user=world.frank, name=otp.DEVICE_NAME, confirmed=True, tolerance=1)
    with pytest.raises(Invalid):
        otp.verify_code(account=world.frank, code=code(frank, -1))
    pending = otp.start_enrolment(account=world.bob)
    assert (pending.step, pending.tolerance) == (30, 0)
    rita = enrolled(world.rita)
    assert otp.verify_code(account=world.rita, code=code(rita, 0)) == rita
    rita.refresh_from_db()
    assert rita.last_t == now // 30 and rita.tolerance == 0


# --- V7 sessions ---------------------------------------------------------------------------------------------------


def test_v7_1_2_an_account_may_hold_several_sessions_and_logging_out_of_one_keeps_the_others(world):
    laptop, _ = sign_in("alice", ip="10.40.0.1")
    counter, _ = sign_in("alice", ip="10.40.0.2")
    assert laptop.session.session_key != counter.session.session_key
    assert laptop.get("/").status_code == counter.get("/").status_code == 200
    laptop.post("/logout/")
    assert laptop.get("/").status_code == 302
    assert counter.get("/").status_code == 200


def test_v7_2_1_and_v7_2_3_session_keys_and_api_tokens_are_long_random_values_checked_on_the_server(world):
    first, _ = sign_in("alice")
    second, _ = sign_in("alice")
    keys = [first.session.session_key, second.session.session_key]
    assert all(re.fullmatch(r"[a-z0-9]{32}", key) for key in keys) and keys[0] != keys[1]  # 32 × log2(36) > 165 bits
    forged = Client()
    forged.cookies[django_settings.SESSION_COOKIE_NAME] = "a" * 32
    assert forged.get("/")["Location"].startswith("/login/")
    key = APIClient().post("/api/v1/auth/token", {"username": "bob", "password": PASSWORD}, format="json").json()
    assert re.fullmatch(r"[0-9a-f]{40}", key["token"])  # 160 bits
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Token {'0' * 40}")
    assert stranger.get("/api/v1/items/").status_code == 401


def test_v7_3_1_a_session_ends_after_eight_idle_hours_and_each_request_restarts_the_clock(world):
    client, _ = sign_in("alice")
    idle = timedelta(seconds=django_settings.SESSION_COOKIE_AGE)
    assert idle == timedelta(hours=8)
    session = Session.objects.filter(session_key=client.session.session_key)
    session.update(expire_date=timezone.now() + timedelta(hours=1))  # as if seven hours had passed idle
    assert client.get("/").status_code == 200
    assert abs(session.get().expire_date - (timezone.now() + idle)) < timedelta(minutes=1)
    session.update(expire_date=timezone.now() - timedelta(seconds=1))  # eight idle hours
    assert client.get("/")["Location"].startswith("/login/")
    assert not signed_in(client)


def test_v7_4_1_logging_out_ends_the_session_on_the_server(world):
    client, _ = sign_in("alice")
    old_key = client.session.session_key
    assert client.post("/logout/").status_code == 302
    assert not Session.objects.filter(session_key=old_key).exists()
    replay = Client()
    replay.cookies[django_settings.SESSION_COOKIE_NAME] = old_key
    assert replay.get("/")["Location"].startswith("/login/")


def test_v7_4_2_a_disabled_accounts_api_token_stops_working_at_once(world):
    key = APIClient().post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key.json()['token']}")
    assert api.get("/api/v1/items/").status_code == 200
    Account.objects.filter(pk=world.alice.pk).update(is_active=False)
    refused = api.get("/api/v1/items/")
    assert refused.status_code == 401 and refused.json()["code"] == "authentication_failed"


@pytest.mark.parametrize(
    ("username", "paths"),
    [
        ("alice", ["/", "/members/", "/armories/ARM-A/", "/custody/issue/", "/training/", "/members/{bob}/"]),
        ("dave", ["/", "/changes/", "/custody/overrides/", "/units/A/custody-policy/"]),
        ("bob", ["/", "/members/{bob}/", "/custody/issue/", "/armories/ARM-B/"]),  # also its 403 and 404 pages
    ],
)
def test_v7_4_4_every_signed_in_page_offers_logout(client, world, username, paths):
    client.force_login(getattr(world, username))
    for path in paths:
        html = client.get(path.format(bob=world.bob_member.member_no)).content.decode()
        assert re.search(r'<form method="post" action="/logout/"', html), path


# --- V16 logging and errors ----------------------------------------------------------------------------------------


def test_v16_2_2_audit_and_change_records_are_stamped_in_utc_whatever_the_local_time_zone(world, settings):
    settings.TIME_ZONE = "Europe/Kyiv"
    sign_in("bob")
    members.grant_role(account=world.bob, role=Role.DUTY_OFFICER, unit=world.unit_a, actor=world.dave)
    stamps = [AuditEvent.objects.get(kind="login").at, ChangeRecord.objects.latest("pk").at]
    assert all(stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert all(abs(stamp - timezone.now()) < timedelta(minutes=1) for stamp in stamps)


def test_v16_2_3_logs_go_only_to_the_places_the_inventory_names():
    # docs/security.md "Logs": the console (stderr) for every logger, one JSON object per line (V16.2.4: the
    # formatter is core/tests/test_security_logging.py's); a new handler must be added to the inventory.
    handlers = django_settings.LOGGING["handlers"]
    assert handlers == {"console": {"class": "logging.StreamHandler", "formatter": "json"}}
    assert django_settings.LOGGING["root"]["handlers"] == ["console"]
    assert all("handlers" not in logger for logger in django_settings.LOGGING["loggers"].values())


def test_v16_2_5_a_failed_sign_in_records_the_name_and_address_never_the_password(world, caplog):
    caplog.set_level(logging.INFO)
    typo = "correct-horse-battery-stapel"
    client, status = sign_in("alice", typo, ip="10.50.0.1")
    assert status == 200 and not signed_in(client)
    event = AuditEvent.objects.get(kind="login_failed")
    assert (event.username, event.ip, event.path) == ("alice", "10.50.0.1", "/login/")
    stored = " ".join(str(value) for value in AuditEvent.objects.values_list("username", "path", "detail"))
    assert typo not in stored and PASSWORD not in stored
    assert caplog.records and not any(typo in record.getMessage() for record in caplog.records)


def test_v16_3_1_a_wrong_countersign_password_at_the_counter_is_audited_and_issues_nothing(world):
    item = make_item(world.armory_a, world.alice)
    api = APIClient(REMOTE_ADDR="10.50.0.2")
    api.force_authenticate(world.alice)
    override = {"commander": "dave", "commander_password": "not-daves-password", "reason": "Exercise at dawn."}
    body = {"item": item.pk, "member": world.bob_member.member_no, "override": override}
    response = api.post("/api/v1/custody/issue", body, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "countersign_failed")
    failed = AuditEvent.objects.get(kind="login_failed")
    assert (failed.username, failed.ip, failed.path) == ("dave", "10.50.0.2", "/api/v1/custody/issue")
    assert AuditEvent.objects.filter(kind="refused", username="alice", detail="countersign_failed").exists()
    assert Item.objects.get(pk=item.pk).holder_member_id is None


class Boom(RuntimeError):
    pass


SECRET_DETAIL = "db password is hunter2 at /srv/muster/settings.py"


def explode(*args, **kwargs):
    raise Boom(SECRET_DETAIL)


@pytest.mark.parametrize(
    ("path", "target", "attribute", "api"),
    [
        ("/", "muster.custody.views.HomeView", "get_context_data", False),
        ("/api/v1/armories/", "muster.custody.api.ArmoryViewSet", "scoped_queryset", True),
    ],
)
def test_v16_3_4_and_v16_5_1_an_unexpected_error_is_logged_and_answered_with_a_generic_message(
    world, caplog, monkeypatch, path, target, attribute, api
):
    monkeypatch.setattr(f"{target}.{attribute}", explode)
    client = APIClient() if api else Client()
    client.raise_request_exception = False
    client.force_login(world.alice)
    response = client.get(path)
    assert response.status_code == 500
    body = response.content.decode()
    assert SECRET_DETAIL not in body and "Traceback" not in body and "Boom" not in body
    [logged] = [record for record in caplog.records if record.name == "django.request"]
    assert logged.levelno == logging.ERROR and logged.exc_info[0] is Boom and path in logged.getMessage()
