"""API request rates (docs/security.md *Rate limits*, ASVS 2.4.1): per account, per address for callers not signed
in, tighter on the token endpoint and the PDF receipts; over the rate, 429 {"code": "throttled"} with Retry-After.
The rest of the suite runs with throttling off (conftest); these tests switch it on with small rates."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import resolve
from rest_framework.request import Request
from rest_framework.test import APIClient

from muster.core.testing import PASSWORD
from muster.core.throttling import AnonymousRateThrottle, RouteRateThrottle
from muster.custody import services
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    settings.MUSTER_API_THROTTLING = True
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"account": "5/minute", "anonymous": "4/minute", "token": "3/minute",
                                   "documents": "2/minute"},
    }  # fmt: skip
    cache.clear()
    yield
    cache.clear()


def api_for(account, ip: str = "10.99.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.force_authenticate(account)
    return client


def test_an_account_over_its_rate_gets_429_and_others_do_not(world, rates):
    alice = api_for(world.alice)
    assert [alice.get("/api/v1/items/").status_code for _ in range(5)] == [200] * 5
    refused = alice.get("/api/v1/items/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) > 0
    assert api_for(world.alice, ip="10.99.0.2").get("/api/v1/items/").status_code == 429  # per account, any address
    assert api_for(world.dave).get("/api/v1/items/").status_code == 200


def test_the_token_endpoint_is_limited_per_address(world, rates):
    """The token endpoint is the API's only view open to strangers (its other views answer 401 before any rate):
    at most MUSTER_API_RATE_TOKEN requests per address, right password or wrong, then 429; another address is
    counted apart."""
    stranger = APIClient(REMOTE_ADDR="10.99.1.1")
    body = {"username": "bob", "password": "not the password"}
    answers = [stranger.post("/api/v1/auth/token", body, format="json").status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]
    refused = stranger.post("/api/v1/auth/token", {"username": "bob", "password": PASSWORD}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (429, "throttled") and int(refused["Retry-After"]) > 0
    elsewhere = APIClient(REMOTE_ADDR="10.99.1.2")
    answer = elsewhere.post("/api/v1/auth/token", {"username": "bob", "password": PASSWORD}, format="json")
    assert answer.status_code == 200 and answer.json()["token"]


def test_a_caller_not_signed_in_is_limited_per_address(world, rates):
    # The anonymous rate (4/minute here) is counted per address apart from the token route's own (3/minute).
    request = Request(RequestFactory().post("/api/v1/auth/token", REMOTE_ADDR="10.99.1.1"))
    request._request.resolver_match = resolve("/api/v1/auth/token")
    anonymous, route = AnonymousRateThrottle(), RouteRateThrottle()
    assert route.scope_for(request) == "token"
    allowed = [anonymous.allow_request(request, None) for _ in range(5)]
    assert allowed == [True] * 4 + [False]
    assert RouteRateThrottle().allow_request(request, None)  # and a separate count on the route's own rate
    other = Request(RequestFactory().post("/api/v1/auth/token", REMOTE_ADDR="10.99.1.2"))
    assert AnonymousRateThrottle().allow_request(other, None)


def test_receipts_are_limited_more_tightly_than_the_rest(world, rates):
    item = make_item(world.armory_a, world.alice)
    event = services.issue(item=item, member=world.bob_member, actor=world.alice)
    alice = api_for(world.alice)
    url = f"/api/v1/ledger/{event.seq}/receipt.pdf"
    assert [alice.get(url).status_code for _ in range(2)] == [200, 200]
    assert alice.get(url).status_code == 429
    assert alice.get("/api/v1/items/").status_code == 200  # the account's own rate still has room


def test_throttling_can_be_switched_off(world, rates, settings):
    settings.MUSTER_API_THROTTLING = False
    alice = api_for(world.alice)
    assert {alice.get("/api/v1/items/").status_code for _ in range(8)} == {200}
