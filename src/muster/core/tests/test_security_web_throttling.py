"""The web pages' request rates (docs/security.md *Rate limits*, ASVS 2.4.1): per account on every page, tighter on
the pages that answer a file, per address for callers not signed in and on the sign-in steps; over a rate, a 429
page with Retry-After and the view not run. The rest of the suite runs with throttling off (conftest); these tests
switch it on with small rates."""

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from muster.core.models import AuditEvent, Notification
from muster.core.testing import PASSWORD
from muster.core.tests.test_settings import load_settings, settings_of
from muster.core.throttling import WEB_DOCUMENT_ROUTES, WEB_SIGN_IN_ROUTES, web_throttles

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    settings.MUSTER_WEB_THROTTLING = True
    settings.MUSTER_WEB_THROTTLE_RATES = {"web": "4/minute", "web_documents": "2/minute", "web_anonymous": "3/minute"}
    cache.clear()
    yield
    cache.clear()


def web_for(account, ip: str = "10.98.0.1") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.force_login(account)
    return client


def test_it_refuses_an_account_over_its_rate_without_running_the_view(world, rates):
    note = Notification.objects.create(recipient=world.alice, subject="Count due")
    alice = web_for(world.alice)
    assert [alice.get("/").status_code for _ in range(4)] == [200] * 4
    refused = alice.post(reverse("notifications-read-all"))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert b"429" in refused.content and b"Too many requests" in refused.content
    note.refresh_from_db()
    assert note.read_at is None  # the view did not run: nothing was marked read
    htmx = alice.get(reverse("counter"), headers={"HX-Request": "true"})
    assert htmx.status_code == 429 and htmx["Retry-After"]
    assert web_for(world.alice, ip="10.98.0.2").get("/").status_code == 429  # per account, any address
    assert web_for(world.dave).get("/").status_code == 200  # another account has its own count
    # On the audit trail, as the API's 429s: once a minute per account and rate, however many refusals.
    (record,) = AuditEvent.objects.filter(kind=AuditEvent.Kind.THROTTLED)
    assert record.account == world.alice and "web rate 4/minute" in record.detail


def test_files_have_their_tighter_rate(world, rates, settings):
    settings.MUSTER_WEB_THROTTLE_RATES = {**settings.MUSTER_WEB_THROTTLE_RATES, "web": "10/minute"}
    alice = web_for(world.alice)
    labels = reverse("armory-labels", args=[world.armory_a.code])
    assert [alice.get(labels).status_code for _ in range(2)] == [200, 200]
    refused = alice.get(labels)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert alice.get(reverse("training-expiring"), {"export": "csv"}).status_code == 429  # an export is a file too
    assert alice.get(reverse("training-expiring")).status_code == 200  # the page itself: `web` still has room
    assert web_for(world.dave).get(reverse("training-expiring"), {"export": "csv"}).status_code == 200


def test_the_login_page_is_limited_per_address(world, rates):
    stranger = Client(REMOTE_ADDR="10.98.1.1")
    assert [stranger.get("/login/").status_code for _ in range(3)] == [200] * 3
    refused = stranger.post("/login/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in stranger.session  # not signed in: the login view did not run
    assert not AuditEvent.objects.filter(kind="login", username="alice").exists()
    elsewhere = Client(REMOTE_ADDR="10.98.1.2")
    assert elsewhere.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert "_auth_user_id" in elsewhere.session


def test_the_sign_in_steps_count_per_address_even_for_a_signed_in_session(world, rates):
    """A session that has the password but not yet the second factor is signed in; its code page is counted per
    address, so a person holding only the password cannot use up the account's own rate."""
    for name in ("login", "otp-verify", "otp-enrol"):
        request = RequestFactory().get(reverse(name), REMOTE_ADDR="10.98.2.1")
        request.user, request.resolver_match = world.alice, resolve(reverse(name))
        assert [throttle.scope for throttle in web_throttles(request)] == ["web_anonymous"]
    request = RequestFactory().get("/", REMOTE_ADDR="10.98.2.1")
    request.user, request.resolver_match = world.alice, resolve("/")
    assert [throttle.scope for throttle in web_throttles(request)] == ["web"]


def test_api_paths_are_left_to_the_api_rates(world, rates):
    alice = web_for(world.alice)
    assert {alice.get("/api/v1/items/").status_code for _ in range(6)} == {200}  # web rate 4/minute; API's off


def test_web_throttling_can_be_switched_off(world, rates, settings):
    settings.MUSTER_WEB_THROTTLING = False
    alice = web_for(world.alice)
    assert {alice.get("/").status_code for _ in range(6)} == {200}


def _named_routes(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_routes(pattern, route, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield route, namespace + pattern.name


def test_every_web_route_that_answers_a_file_has_the_documents_rate():
    """A new PDF, sheet or download route must be added to WEB_DOCUMENT_ROUTES (or answer through ?export=)."""
    routes = dict(_named_routes(get_resolver()))
    files = {name for route, name in routes.items() if not route.startswith("api/") and "." in route.rsplit("/")[-1]}
    assert files <= WEB_DOCUMENT_ROUTES, files - WEB_DOCUMENT_ROUTES
    for name in WEB_DOCUMENT_ROUTES | WEB_SIGN_IN_ROUTES:
        assert name in routes.values(), f"{name} is no route"


def test_the_web_rates_come_from_the_environment():
    names = ("MUSTER_WEB_THROTTLE_RATES", "MUSTER_WEB_THROTTLING")
    assert settings_of(*names) == [
        {"web": "600/minute", "web_documents": "30/minute", "web_anonymous": "120/minute"},
        True,
    ]
    assert settings_of(
        *names, MUSTER_WEB_RATE="900/m", MUSTER_WEB_RATE_DOCUMENTS="10/hour", MUSTER_WEB_RATE_ANONYMOUS="60/min"
    ) == [{"web": "900/minute", "web_documents": "10/hour", "web_anonymous": "60/minute"}, True]
    assert settings_of("MUSTER_WEB_THROTTLING", MUSTER_LOGIN_THROTTLING="false") == [False]  # load tests
    assert settings_of("MUSTER_WEB_THROTTLING", MUSTER_API_THROTTLING="false", MUSTER_WEB_THROTTLING="true") == [True]


@pytest.mark.parametrize(
    ("name", "value"),
    [("MUSTER_WEB_RATE", "lots"), ("MUSTER_WEB_RATE_DOCUMENTS", "0/minute"), ("MUSTER_WEB_RATE_ANONYMOUS", "5/week")],
)
def test_a_malformed_web_rate_stops_start_up(name, value):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr and "not a rate" in result.stderr


def test_a_malformed_web_switch_stops_start_up():
    result = load_settings(MUSTER_WEB_THROTTLING="sometimes")
    assert result.returncode != 0
    assert "MUSTER_WEB_THROTTLING" in result.stderr and "not a boolean" in result.stderr
