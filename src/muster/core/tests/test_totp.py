"""Two-factor sign-in (TOTP): enrolment, the second step after the password, one use per code, throttling of wrong
codes, the audit trail and the API token endpoint (the commander's reset: test_totp_reset.py).

Codes are computed as an authenticator app does, with django_otp.oath.totp over the device's secret. The rest of
the suite runs with MUSTER_REQUIRE_TOTP off; every test here switches it on.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core import otp
from muster.core.models import AuditEvent
from muster.core.testing import PASSWORD
from muster.custody.models import Item
from muster.custody.testing import make_item
from muster.members.models import Account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _totp_required(settings):
    settings.MUSTER_REQUIRE_TOTP = True


def code_for(device: TOTPDevice, steps: int = 0) -> str:
    """The code the app shows now (or `steps` time steps later)."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps):06d}"


def wrong_code(device: TOTPDevice) -> str:
    valid = {code_for(device, steps) for steps in (-1, 0, 1)}  # this step's code, and its neighbours to be safe
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def enrolled(account: Account) -> TOTPDevice:
    return TOTPDevice.objects.create(user=account, name=otp.DEVICE_NAME, confirmed=True, tolerance=otp.TOLERANCE)


def password_login(username: str, ip: str = "10.1.1.1") -> Client:
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def verified(client: Client, device: TOTPDevice) -> Client:
    """A session that has passed the second factor (as if the code had been typed)."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def verified_client(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    return verified(client, TOTPDevice.objects.filter(user=account, confirmed=True).first() or enrolled(account))


def audit_kinds(account: Account) -> list[str]:
    return list(AuditEvent.objects.filter(account=account).order_by("pk").values_list("kind", flat=True))


# --- enrolment -----------------------------------------------------------------------------------------------------


def test_it_enrols_a_commander_with_a_code_from_the_app(world):
    client = password_login("dave")
    response = client.get("/members/")
    assert response.status_code == 302 and response["Location"] == "/two-factor/set-up/?next=%2Fmembers%2F"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]
    device = TOTPDevice.objects.get(user=world.dave)
    assert not device.confirmed
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html  # the QR code, as a data: image the CSP allows
    assert page.context["secret"].replace(" ", "") in device.config_url
    assert client.get("/two-factor/set-up/").context["secret"] == page.context["secret"]  # a reload keeps it

    answer = client.post("/two-factor/set-up/", {"code": code_for(device), "next": "/members/"})
    assert answer.status_code == 302 and answer["Location"] == "/members/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/members/").status_code == 200
    assert audit_kinds(world.dave)[-2:] == [otp.Kind.ENROLLED, otp.Kind.VERIFIED]


def test_a_wrong_code_does_not_confirm_the_enrolment(world):
    client = password_login("erin")
    client.get("/two-factor/set-up/")
    device = TOTPDevice.objects.get(user=world.erin)
    response = client.post("/two-factor/set-up/", {"code": wrong_code(device)})
    assert response.status_code == 400
    assert "otp_invalid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed and device.throttling_failure_count == 1
    assert client.get("/").status_code == 302


def test_an_enrolled_account_cannot_set_up_a_second_authenticator_with_its_password_alone(world):
    device = enrolled(world.alice)
    client = password_login("alice")
    response = client.get("/two-factor/set-up/")
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"].startswith("/login/code/")
    response = client.post("/two-factor/set-up/", {"code": code_for(device)})
    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=world.alice)) == [device]
    assert not client.get("/login/code/").context["user"].is_verified()


# --- the second step -----------------------------------------------------------------------------------------------

BLOCKED_PAGES = ["/", "/members/", "/custody/issue/", "/armories/ARM-A/", "/training/", "/admin/", "/login/"]
BLOCKED_API = ["/api/v1/items/", "/api/v1/members/", "/api/schema/", "/api/docs/", "/api/v1/ledger/"]


@pytest.mark.parametrize("username", ["alice", "dave", "erin"])
def test_before_the_code_a_staff_session_reaches_only_the_second_step_and_logout(world, username):
    enrolled(getattr(world, username))
    client = password_login(username)
    for path in BLOCKED_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/code/?next="), path
    for path in BLOCKED_API:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["code"] == "otp_required"
    assert client.get("/login/code/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_before_the_code_nothing_is_written(world):
    enrolled(world.alice)
    item = make_item(world.armory_a, world.alice)
    client = password_login("alice")
    form = {"serial": item.serial_number, "member_no": world.bob_member.member_no}
    assert client.post("/custody/issue/", form)["Location"] == "/login/code/"
    api = APIClient()
    api.force_login(world.alice)  # the API on a session, as the browser's scripts call it
    response = api.post("/api/v1/custody/issue", {"item": item.pk, "member": world.bob_member.member_no})
    assert response.status_code == 401 and response.json()["code"] == "otp_required"
    item.refresh_from_db()
    assert item.holder_member_id is None and Item.objects.filter(holder_member=world.bob_member).count() == 0


def test_an_account_not_yet_enrolled_is_sent_to_set_up_and_the_api_says_so(world):
    client = password_login("erin")
    assert client.get("/members/")["Location"] == "/two-factor/set-up/?next=%2Fmembers%2F"
    assert client.get("/login/code/")["Location"].startswith("/two-factor/set-up/")
    response = client.get("/api/v1/items/")
    assert response.status_code == 401
    assert response.json() == {"code": "otp_required", "detail": "Set up two-factor sign-in on the web first."}


def test_the_right_code_opens_the_session_under_a_new_key(world):
    device = enrolled(world.alice)
    client = password_login("alice")
    before = client.session.session_key
    response = client.post("/login/code/", {"code": code_for(device), "next": "/members/"})
    assert response.status_code == 302 and response["Location"] == "/members/"
    assert client.session.session_key != before
    assert client.get("/members/").status_code == 200
    assert client.get("/api/v1/items/").status_code == 200
    assert audit_kinds(world.alice) == ["login", otp.Kind.VERIFIED]


def test_it_never_sends_the_account_off_site_after_the_code(world):
    device = enrolled(world.alice)
    client = password_login("alice")
    response = client.post("/login/code/", {"code": code_for(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_each_code_works_once(world):
    device = enrolled(world.alice)
    code = code_for(device)
    first = password_login("alice")
    assert first.post("/login/code/", {"code": code})["Location"] == "/"
    second = password_login("alice", ip="10.1.1.2")
    response = second.post("/login/code/", {"code": code})
    assert response.status_code == 400 and "otp_invalid" in response.content.decode()
    assert second.get("/")["Location"].startswith("/login/code/")


def _age_failures(device: TOTPDevice, seconds: float) -> None:
    """Pretend the last wrong code was typed `seconds` earlier (negative: later, so the wait has surely not passed)."""
    device.refresh_from_db()
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=seconds)
    )


def test_wrong_codes_are_refused_slow_the_next_try_and_are_audited(world, settings):
    assert settings.OTP_TOTP_THROTTLE_FACTOR >= 1  # throttling is on
    device = enrolled(world.dave)
    client = password_login("dave")
    bad = wrong_code(device)

    response = client.post("/login/code/", {"code": bad})
    assert response.status_code == 400 and "otp_invalid" in response.content.decode()
    # At once, even the right code is refused: the next try must wait 1 s, and the code is not used up. (The wrong
    # code is moved a minute into the future for this, so that a slow machine cannot let the second pass.)
    _age_failures(device, -60)
    response = client.post("/login/code/", {"code": code_for(device)})
    assert response.status_code == 409 and "otp_throttled" in response.content.decode()
    device.refresh_from_db()
    assert device.last_t == -1 and device.throttling_failure_count == 1
    _age_failures(device, 60)

    for failures in (2, 3, 4):  # the wait doubles with every wrong code in a row: 1, 2, 4, 8 s
        _age_failures(device, 2 ** (failures - 2) + 0.5)
        assert client.post("/login/code/", {"code": bad}).status_code == 400
        device.refresh_from_db()
        assert device.throttling_failure_count == failures
    _age_failures(device, 4)
    assert client.post("/login/code/", {"code": code_for(device)}).status_code == 409  # 4 s < 8 s
    assert client.post("/login/code/", {"code": "12345"}).status_code == 409  # malformed, still throttled first

    _age_failures(device, 5)
    assert client.post("/login/code/", {"code": code_for(device)})["Location"] == "/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    failures = AuditEvent.objects.filter(account=world.dave, kind=otp.Kind.FAILED)
    assert failures.count() == 7  # 4 wrong codes and 3 refused while throttled, each with the address
    assert set(failures.values_list("ip", flat=True)) == {"10.1.1.1"}
    assert audit_kinds(world.dave)[-1] == otp.Kind.VERIFIED


def test_a_malformed_code_counts_as_a_wrong_one(world):
    device = enrolled(world.alice)
    client = password_login("alice")
    assert client.post("/login/code/", {"code": "12ab56"}).status_code == 400
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


# --- who must use it -----------------------------------------------------------------------------------------------


def test_members_sign_in_with_a_password_alone(world):
    client = password_login("bob")
    assert client.get("/").status_code == 200


def test_duty_officers_must_set_it_up_like_the_other_staff(world):
    client = password_login("frank")
    assert client.get("/")["Location"] == "/two-factor/set-up/?next=%2F"
    assert client.get("/two-factor/set-up/").context["required"]
    assert TOTPDevice.objects.filter(user=world.frank, confirmed=False).count() == 1


def test_a_member_who_enrols_voluntarily_is_asked_for_the_code(world):
    client = password_login("bob")
    page = client.get("/two-factor/set-up/")
    assert page.status_code == 200 and not page.context["required"]
    device = TOTPDevice.objects.get(user=world.bob)
    assert client.post("/two-factor/set-up/", {"code": code_for(device)}).status_code == 302
    later = password_login("bob", ip="10.1.1.9")
    assert later.get("/")["Location"].startswith("/login/code/")


def test_a_superuser_must_use_it(world):
    Account.objects.create_superuser(username="root", password=PASSWORD)
    client = password_login("root")
    assert client.get("/")["Location"].startswith("/two-factor/set-up/")


def test_the_requirement_can_be_switched_off(world, settings):
    settings.MUSTER_REQUIRE_TOTP = False
    assert password_login("dave").get("/").status_code == 200
    enrolled(world.alice)  # an account that set it up is still asked
    assert password_login("alice").get("/")["Location"].startswith("/login/code/")


def test_the_role_requirement_follows_the_roles(world):
    assert [otp.required_by_role(getattr(world, name)) for name in ("bob", "alice", "dave", "frank", "erin")] == [
        False, True, True, True, True,
    ]  # fmt: skip


# --- the API token endpoint ----------------------------------------------------------------------------------------


def token_request(username: str, **extra):
    return APIClient().post("/api/v1/auth/token", {"username": username, "password": PASSWORD, **extra}, format="json")


def test_the_token_endpoint_demands_a_code_from_staff(world):
    device = enrolled(world.dave)
    response = token_request("dave")
    assert response.status_code == 400 and response.json()["code"] == "otp_required"
    response = token_request("dave", otp=wrong_code(device))
    assert response.status_code == 401 and response.json()["code"] == "otp_invalid"
    assert response["WWW-Authenticate"] == "Token"
    assert not Token.objects.filter(user=world.dave).exists()
    _age_failures(device, -60)  # the wrong code was "just now", however slow this machine is
    response = token_request("dave", otp=code_for(device))
    assert response.status_code == 429 and response.json()["code"] == "otp_throttled"  # too soon after a wrong one
    _age_failures(device, 62)
    response = token_request("dave", otp=code_for(device))
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=world.dave).key
    assert audit_kinds(world.dave)[-2:] == [otp.Kind.VERIFIED, "token_issued"]  # the exchange's success, too
    assert AuditEvent.objects.filter(account=world.dave, kind=otp.Kind.VERIFIED, detail="API token").exists()
    assert AuditEvent.objects.filter(account=world.dave, kind=otp.Kind.FAILED).count() == 2


def test_the_token_endpoint_refuses_staff_without_an_authenticator(world):
    response = token_request("erin", otp="123456")
    assert response.status_code == 403 and response.json()["code"] == "otp_not_enrolled"
    assert not Token.objects.filter(user=world.erin).exists()


def test_the_token_endpoint_checks_the_password_before_saying_anything_of_the_second_factor(world):
    enrolled(world.dave)
    response = APIClient().post("/api/v1/auth/token", {"username": "dave", "password": "wrong"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_members_get_a_token_with_the_password_and_tokens_are_not_held_up_by_the_gate(world):
    assert token_request("bob").status_code == 200
    device = enrolled(world.alice)
    key = token_request("alice", otp=code_for(device)).json()["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/items/").status_code == 200
