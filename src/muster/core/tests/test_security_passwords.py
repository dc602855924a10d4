"""Passwords (docs/security.md, ASVS V6.2): the rules (length, common, similar, built around a word of this site, no
composition rule), the page where every account changes its own, and what any password set brings: the other
sessions end and the API token goes (with a commander's reset of the authenticator too)."""

import gzip
import io

import pytest
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core import otp, passwords
from muster.core.errors import Invalid, NotPermitted
from muster.core.models import AccountSession, AuditEvent, ChangeRecord
from muster.core.testing import PASSWORD, make_unit
from muster.core.tests.test_totp import enrolled, verified_client
from muster.members import credentials
from muster.members import services as members
from muster.members.models import Account, Role

pytestmark = pytest.mark.django_db

NEW = "a-new-long-unusual-passphrase-17"


def sign_in(username: str, password: str = PASSWORD, ip: str = "10.70.0.1") -> Client:
    client = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=f"Browser at {ip}")
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content
    return client


def refusal(password: str, account=None) -> list[str]:
    try:
        password_validation.validate_password(password, user=account)
    except Exception as exc:
        return [error.code for error in exc.error_list]
    return []


def token_of(account) -> str:
    return members.issue_token(account=account, actor=account).key


# --- the rules (G2, G4, G5) ----------------------------------------------------------------------------------------


def test_the_site_has_no_composition_rule_and_keeps_length_common_and_similarity(world, settings):
    names = [validator["NAME"].rpartition(".")[2] for validator in settings.AUTH_PASSWORD_VALIDATORS]
    assert "NumericPasswordValidator" not in names
    assert {"MinimumLengthValidator", "CommonPasswordValidator", "UserAttributeSimilarityValidator"} <= set(names)
    assert refusal("4829105736251") == []  # digits alone, long and not common: fine (G4)
    assert refusal("abc12345") == ["password_too_short", "password_too_common"]
    assert refusal("1234567890") == ["password_too_common"]  # the common list still refuses common digit strings
    assert refusal("bob-baker-1990", world.bob) == []  # not close enough to "bob"
    world.bob.first_name, world.bob.last_name = "Bohdana", "Kovalenko"
    assert refusal("kovalenko", world.bob) == ["password_too_similar", "password_too_short"]
    assert refusal("Kovalenko1", world.bob) == ["password_too_similar"]


@pytest.mark.parametrize(
    "password",
    [
        "Muster2025!!",  # the site's name
        "MUSTER-muster-1",
        "Mu5t3r@2025!",  # look-alike characters read as letters
        "armorer123456",  # a role and a common password
        "duty-officer-99",  # a role's words
        "CompanyA-2025",  # a unit's name (Company A)
        "region-r-region",  # a unit's name, twice
        "kharkiv-east-1",  # MUSTER_PASSWORD_WORDS (the setting)
        "muster.example.org",  # the host name
    ],
)
def test_a_password_built_around_a_word_of_this_site_is_refused(world, settings, password):
    settings.MUSTER_PASSWORD_WORDS = ["Kharkiv East"]
    settings.ALLOWED_HOSTS = ["muster.example.org"]
    make_unit("KH-3", name="Kharkiv East battalion")
    assert passwords.ContextWordsValidator.code in refusal(password), password


@pytest.mark.parametrize(
    "password",
    [
        "remember the alamo, 1836",  # holds "member", among plenty else
        "commander-of-the-faithful-blue-whale",
        "correct-horse-battery-staple",
        "Unit 17 keeps its rifles oiled",
    ],
)
def test_a_password_that_merely_contains_such_a_word_passes(world, password):
    assert refusal(password) == []


def test_the_word_list_is_the_documented_one(world, settings):
    settings.ALLOWED_HOSTS = ["muster.unit.example", "10.0.0.5", "localhost"]
    settings.MUSTER_PASSWORD_WORDS = ["Azov"]
    words = passwords.context_words()
    assert {"muster", "commander", "armorer", "duty", "officer", "dutyofficer", "auditor", "member"} <= words
    assert {"region", "company", "companya", "unit", "example", "azov"} <= words  # units, the host, the setting
    assert not {"a", "b", "r", "10", "localhost", "com", "org"} & words


def test_account_creation_refuses_a_site_word_with_its_code_and_writes_nothing(world):
    with pytest.raises(Invalid) as refused:
        members.create_account(username="olena", role=Role.MEMBER, unit=world.unit_a, actor=world.dave,
                               password="Muster-2025!")  # fmt: skip
    assert refused.value.code == "password_rejected" and "built around a word" in refused.value.detail
    assert not Account.objects.filter(username="olena").exists()


def test_a_longer_common_password_list_kept_on_the_server_replaces_djangos(world, settings, tmp_path):
    listing = tmp_path / "breached.txt.gz"
    with gzip.open(listing, "wt", encoding="utf-8") as out:
        out.write("zebra-cornflakes-42\nanother-leaked-one\n")
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator",
         "OPTIONS": {"password_list_path": str(listing)}},
    ]  # fmt: skip
    password_validation.get_default_password_validators.cache_clear()
    try:
        assert refusal("Zebra-Cornflakes-42") == ["password_too_common"]
        assert refusal("correct-horse-battery-staple") == []
    finally:
        password_validation.get_default_password_validators.cache_clear()


def test_the_site_word_rule_reads_the_same_server_list(world, settings, tmp_path):
    """What is left of a password once the site's words are out is looked up in the list the site uses."""
    listing = tmp_path / "breached.txt"
    listing.write_text("zebracornflakes\n", encoding="utf-8")
    validator = passwords.ContextWordsValidator()
    validator.validate("Muster-ZebraCornflakes")  # Django's list does not hold the rest
    settings.MUSTER_COMMON_PASSWORDS_FILE = str(listing)
    with pytest.raises(ValidationError) as refused:
        validator.validate("Muster-ZebraCornflakes")
    assert refused.value.code == "password_context_word"


# --- the password page (G3) ----------------------------------------------------------------------------------------


def change(client: Client, old: str = PASSWORD, new: str = NEW, again: str | None = None):
    body = {"old_password": old, "new_password1": new, "new_password2": new if again is None else again}
    return client.post("/account/password/", body)


@pytest.mark.parametrize("username", ["bob", "alice", "frank"])
def test_every_account_changes_its_password_keeps_this_session_and_ends_the_others(world, username):
    account = getattr(world, username)
    laptop, counter = sign_in(username, ip="10.70.0.2"), sign_in(username, ip="10.70.0.3")
    key = token_of(account)
    before = laptop.session.session_key
    page = laptop.get("/account/password/")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.content.decode()
    assert page.content.decode().count('autocomplete="new-password"') == 2

    response = change(laptop)
    assert response.status_code == 302 and response["Location"] == "/account/password/"
    account.refresh_from_db()
    assert account.check_password(NEW) and not account.check_password(PASSWORD)
    assert laptop.session.session_key != before and laptop.get("/").status_code == 200  # this one stays
    assert counter.get("/")["Location"].startswith("/login/")  # the other one has ended
    assert list(AccountSession.objects.filter(account=account).values_list("session_key", flat=True)) == [
        laptop.session.session_key
    ]
    assert not Token.objects.filter(user=account).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/items/").status_code == 401
    event = AuditEvent.objects.filter(kind="password_changed").get()
    assert (event.account, event.ip, event.path) == (account, "10.70.0.2", "/account/password/")
    assert event.detail == "own password changed; 1 other session(s) ended; API token deleted"
    logged = ChangeRecord.objects.filter(object_type="members.account", object_id=str(account.pk)).order_by("pk")
    assert [record.changes for record in logged][-2:] == [
        {"password": ["(secret)", "(secret, changed)"]},
        {"api_token": ["(secret)", None]},
    ]


@pytest.mark.parametrize(
    ("old", "new", "again", "field", "message"),
    [
        ("wrong-password-typed", NEW, None, "old_password", "That is not your current password."),
        (PASSWORD, NEW, NEW + "x", "new_password2", "The two new passwords differ"),
        (PASSWORD, "shrt-9", None, "__all__", "[password_rejected]"),
        (PASSWORD, "Muster-2025!", None, "__all__", "built around a word"),
        (PASSWORD, "password123", None, "__all__", "too common"),
        (PASSWORD, PASSWORD, None, "new_password1", "the one you have now"),
    ],
)
def test_a_refused_change_keeps_the_password_sessions_and_token(world, old, new, again, field, message):
    laptop, counter = sign_in("bob", ip="10.70.0.4"), sign_in("bob", ip="10.70.0.5")
    key = token_of(world.bob)
    response = change(laptop, old, new, again)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(message in error for error in errors[field]), errors
    assert new not in response.content.decode()  # never echoed
    world.bob.refresh_from_db()
    assert world.bob.check_password(PASSWORD)
    assert counter.get("/").status_code == 200 and Token.objects.get(user=world.bob).key == key
    assert not AuditEvent.objects.filter(kind="password_changed").exists()


def test_a_wrong_current_password_is_a_failed_login_and_is_throttled(world, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = sign_in("bob", ip="10.70.0.6")
    for _ in range(3):
        assert change(client, old="guess-number-n").status_code in (400, 429)
    locked = change(client)  # the right one, after three wrong: locked at this address
    assert locked.status_code == 429
    world.bob.refresh_from_db()
    assert world.bob.check_password(PASSWORD)
    failures = AuditEvent.objects.filter(kind="login_failed", username="bob", path="/account/password/")
    assert failures.count() >= 3 and set(failures.values_list("ip", flat=True)) == {"10.70.0.6"}


def test_the_navbars_account_menu_links_the_password_and_sessions_pages(world, client):
    client.force_login(world.bob)
    html = client.get("/").content.decode()
    assert 'data-testid="account-menu"' in html
    assert 'href="/account/password/"' in html and 'href="/account/sessions/"' in html


def test_the_admins_own_password_page_is_this_page(world):
    root = verified_client(Account.objects.create_superuser(username="root", password=PASSWORD))
    response = root.get("/admin/password_change/")
    assert response.status_code == 302 and response["Location"] == "/account/password/"


# --- every password set ends the other sessions and deletes the token (G10) ----------------------------------------


def test_a_superuser_setting_a_password_in_the_admin_ends_its_sessions_and_deletes_its_token(world, settings):
    settings.MUSTER_REQUIRE_TOTP = True
    root_account = Account.objects.create_superuser(username="root", password=PASSWORD)
    root = verified_client(root_account)
    enrolled(world.alice)
    alice = verified_client(world.alice)
    token_of(world.alice)
    url = f"/admin/members/account/{world.alice.pk}/password/"
    response = root.post(url, {"password1": NEW, "password2": NEW, "usable_password": "true"})
    assert response.status_code == 302, response.content
    assert alice.get("/")["Location"].startswith("/login/")
    assert not Token.objects.filter(user=world.alice).exists()
    event = AuditEvent.objects.get(kind="password_changed")
    assert (event.account, event.detail) == (root_account, "password of alice changed; 1 session(s) ended; "
                                                           "API token deleted")  # fmt: skip
    assert not AccountSession.objects.filter(account=world.alice).exists()
    assert ChangeRecord.objects.filter(object_id=str(world.alice.pk), changes={"api_token": ["(secret)", None]})


def test_the_set_password_service_is_for_the_account_itself_or_a_superuser(world):
    token_of(world.bob)
    with pytest.raises(NotPermitted) as refused:
        credentials.set_password(account=world.bob, password=NEW, actor=world.dave)
    assert refused.value.code == "not_password_owner"
    world.bob.refresh_from_db()
    assert world.bob.check_password(PASSWORD) and Token.objects.filter(user=world.bob).exists()


def test_muster_user_password_sets_it_like_the_page(world, tmp_path):
    root = Account.objects.create_superuser(username="root", password=PASSWORD)
    token_of(world.bob)
    bob = sign_in("bob")
    path = tmp_path / "password"
    path.write_text(NEW + "\n")
    out = io.StringIO()
    call_command("user", "password", "bob", "--password-file", str(path), "--as", "root", stdout=out)
    assert out.getvalue().strip() == "password of bob set; 1 session(s) ended; its API token, if any, deleted"
    world.bob.refresh_from_db()
    assert world.bob.check_password(NEW) and not Token.objects.filter(user=world.bob).exists()
    assert bob.get("/")["Location"].startswith("/login/")
    assert AuditEvent.objects.filter(kind="password_changed", account=root).exists()
    path.write_text("short\n")
    with pytest.raises(CommandError) as failed:
        call_command("user", "password", "bob", "--password-file", str(path), "--as", "root")
    assert failed.value.returncode == 2 and "password_rejected" in str(failed.value)
    world.bob.refresh_from_db()
    assert world.bob.check_password(NEW)


def test_a_commanders_reset_of_the_authenticator_deletes_the_token(world):
    enrolled(world.alice)
    key = token_of(world.alice)
    otp.reset_device(account=world.alice, actor=world.dave)
    assert not Token.objects.filter(key=key).exists()
    event = AuditEvent.objects.get(kind="otp_reset")
    assert event.detail == "two-factor device of alice removed; API token deleted"
    record = ChangeRecord.objects.filter(object_id=str(world.alice.pk), actor_name="dave").get()
    assert record.changes == {"api_token": ["(secret)", None]}
