"""API tokens have a lifetime (docs/security.md *Sessions*, ASVS 7.2.2, gap G9): MUSTER_API_TOKEN_DAYS after its
creation a token answers 401 token_expired, and the token endpoint (like `muster user token`,
members/tests/test_cli.py) hands out a new key in its place."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.authentication import EXPIRED_DETAIL
from muster.core.changelog import SECRET_CHANGED, SECRET_SET
from muster.core.models import AuditEvent, ChangeRecord
from muster.core.testing import PASSWORD
from muster.core.tests.test_refusals import unchanged
from muster.custody import services
from muster.custody.models import HolderKind, Item
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token"


@pytest.fixture(autouse=True)
def _thirty_days(settings):
    settings.MUSTER_API_TOKEN_DAYS = 30


def made(account, age: timedelta) -> str:
    """The account's token, as if created `age` ago."""
    token, _ = Token.objects.get_or_create(user=account)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - age)
    return token.key


def calling_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def exchange(username: str, **extra) -> dict:
    response = APIClient(**extra).post(TOKEN, {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_an_expired_token_is_refused_with_401_token_expired_and_changes_nothing(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    key = made(world.alice, timedelta(days=30, seconds=1))
    with unchanged():
        refused = calling_with(key).post("/api/v1/custody/return", {"item": item.pk}, format="json")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Token"
    assert refused.json() == {"code": "token_expired", "detail": EXPIRED_DETAIL}
    assert "/api/v1/auth/token" in EXPIRED_DETAIL and "muster user token" in EXPIRED_DETAIL  # how to get a new one
    assert Item.objects.get(pk=item.pk).holder_member == world.bob_member  # not returned
    assert calling_with(key).get("/api/v1/items/").json()["code"] == "token_expired"  # reads too
    assert Token.objects.get(user=world.alice).key == key  # still there until a new one is asked for


def test_a_token_just_inside_its_lifetime_works(world, settings):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    key = made(world.alice, timedelta(days=30) - timedelta(minutes=1))
    response = calling_with(key).post("/api/v1/custody/return", {"item": item.pk}, format="json")
    assert response.status_code == 201, response.content
    assert Item.objects.get(pk=item.pk).holder_kind == HolderKind.ARMORY
    settings.MUSTER_API_TOKEN_DAYS = 7  # the lifetime is read at each request: a shorter one applies at once
    assert calling_with(key).get("/api/v1/items/").json()["code"] == "token_expired"


def test_the_token_endpoint_renews_an_expired_token_and_the_old_key_stops_working(world):
    first = exchange("alice", REMOTE_ADDR="10.91.0.1")
    created = Token.objects.get(user=world.alice).created
    assert datetime.fromisoformat(first["expires"]) == created + timedelta(days=30)
    assert exchange("alice")["token"] == first["token"]  # unexpired: the same token, as before
    Token.objects.filter(user=world.alice).update(created=timezone.now() - timedelta(days=31))

    # A client that sends its expired token along out of habit is not turned away: the body's password counts.
    renewed = APIClient(REMOTE_ADDR="10.91.0.1", HTTP_AUTHORIZATION=f"Token {first['token']}").post(
        TOKEN, {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert renewed.status_code == 200, renewed.content
    new = renewed.json()
    assert new["token"] != first["token"]
    assert list(Token.objects.filter(user=world.alice).values_list("key", flat=True)) == [new["token"]]
    assert abs(datetime.fromisoformat(new["expires"]) - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    old = calling_with(first["token"]).get("/api/v1/items/")
    assert (old.status_code, old.json()["code"]) == (401, "authentication_failed")  # gone, not merely expired
    assert calling_with(new["token"]).get("/api/v1/items/").status_code == 200

    details = AuditEvent.objects.filter(kind="token_issued").order_by("pk").values_list("detail", "ip")
    assert list(details) == [
        ("own API token handed out (new)", "10.91.0.1"),
        ("own API token handed out (existing)", "127.0.0.1"),
        ("own API token handed out (renewed, the old one had expired)", "10.91.0.1"),
    ]
    records = ChangeRecord.objects.filter(object_type="members.account", object_id=str(world.alice.pk)).order_by("pk")
    tokens = [record.changes["api_token"] for record in records if "api_token" in record.changes]
    assert tokens == [[None, SECRET_SET], [SECRET_SET, SECRET_CHANGED]]  # logged as a changed secret, never the key
    assert first["token"] not in str(list(records.values_list("changes", flat=True)))


def test_a_disabled_accounts_token_is_refused_as_before_whatever_its_age(world):
    key = made(world.alice, timedelta(days=1))
    world.alice.is_active = False
    world.alice.save(update_fields=["is_active"])
    refused = calling_with(key).get("/api/v1/items/")
    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")
