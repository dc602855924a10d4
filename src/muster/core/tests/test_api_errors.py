import json
from datetime import datetime, timedelta

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.http import Http404
from rest_framework import exceptions
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.api import exception_handler
from muster.core.errors import Invalid, NotFound, NotPermitted, Refused
from muster.core.testing import PASSWORD

TOKEN = "/api/v1/auth/token"


# --- the exception handler -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("The due-back time must be in the future.", code="due_in_past"), 400),
        (NotPermitted("alice is not an armorer of B.", code="not_armorer"), 403),
        (NotFound("No item with serial number 'X' in your units.", code="item_not_found"), 404),
        (Refused("AK #1 is already issued to Bob.", code="item_not_in_armory"), 409),
    ],
)
def test_it_maps_domain_errors_to_their_status_with_code_and_detail(error, status):
    response = exception_handler(error, {})
    assert (response.status_code, response.data) == (status, {"code": error.code, "detail": error.detail})


def test_it_wraps_field_errors_with_a_summary():
    response = exception_handler(exceptions.ValidationError({"member": ["This field is required."]}), {})
    assert response.status_code == 400
    assert response.data == {
        "code": "invalid",
        "detail": "Invalid input — member: This field is required.",
        "errors": {"member": ["This field is required."]},
    }


def test_it_files_errors_without_a_field_under_non_field_errors():
    response = exception_handler(exceptions.ValidationError("Give a serial number or an id."), {})
    assert response.data["errors"] == {"non_field_errors": ["Give a serial number or an id."]}
    assert response.data["detail"] == "Invalid input — Give a serial number or an id."


def test_it_answers_a_plain_404_without_saying_why():
    response = exception_handler(Http404("No Item matches the given query."), {})
    assert (response.status_code, response.data) == (404, {"code": "not_found", "detail": "Not found."})


def test_it_keeps_the_authentication_challenge_on_401():
    error = exceptions.NotAuthenticated()
    error.auth_header = "Token"
    response = exception_handler(error, {})
    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Token")
    assert response.data == {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}


def test_it_leaves_unknown_exceptions_to_django():
    assert exception_handler(RuntimeError("boom"), {}) is None


# --- token endpoint ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_hands_out_a_token_that_then_authenticates(world):
    response = APIClient().post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = Token.objects.get(user=world.alice)
    assert response.json().keys() == {"token", "expires"} and response.json()["token"] == token.key
    assert datetime.fromisoformat(response.json()["expires"]) == token.created + timedelta(days=30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/armories/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "alice", "password": "wrong"}, ["non_field_errors"]),
        ({"username": "alice"}, ["password"]),
        ({}, ["username", "password"]),
    ],
)
def test_it_answers_400_for_bad_credentials_and_issues_no_token(world, body, fields):
    response = APIClient().post(TOKEN, body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert (payload["code"], sorted(payload["errors"])) == ("invalid", sorted(fields))
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_it_gives_no_token_to_a_disabled_account(world):
    world.alice.is_active = False
    world.alice.save()
    response = APIClient().post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert not Token.objects.exists()


# --- schema and docs -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_it_shows_the_schema_and_docs_only_to_signed_in_callers(world, url):
    response = APIClient().get(url)
    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Token")
    client = APIClient()
    client.login(username="bob", password=PASSWORD)
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_it_serves_an_openapi_3_document_of_every_endpoint(world):
    client = APIClient()
    client.force_authenticate(world.bob)
    response = client.get("/api/schema/")
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert {
        "/api/v1/auth/token", "/api/v1/custody/issue", "/api/v1/custody/return", "/api/v1/units/",
        "/api/v1/units/{code}/", "/api/v1/members/", "/api/v1/members/{member_no}/", "/api/v1/item-types/",
        "/api/v1/armories/", "/api/v1/items/", "/api/v1/items/{id}/", "/api/v1/ledger/", "/api/v1/ledger/{seq}/",
        "/api/v1/members/{member_no}/status", "/api/v1/members/{member_no}/status-history/",
        "/api/v1/members/{member_no}/vettings/", "/api/v1/members/{member_no}/disciplinary/",
        "/api/v1/members/{member_no}/qualifications/", "/api/v1/members/{member_no}/qualifications/prior-service",
        "/api/v1/qualifications/", "/api/v1/qualifications/{code}/", "/api/v1/courses/", "/api/v1/courses/{code}/",
        "/api/v1/training-sessions/", "/api/v1/training-sessions/{id}/", "/api/v1/training-sessions/{id}/enroll",
        "/api/v1/training-sessions/{id}/results", "/api/v1/training-sessions/{id}/cancel", "/api/v1/recalls/",
        "/api/v1/recalls/{id}/", "/api/v1/reports/expiring/", "/api/v1/reports/overrides/",
        "/api/v1/custody/transfer", "/api/v1/members/{member_no}/pin", "/api/v1/loss-cases/",
        "/api/v1/loss-cases/{id}/", "/api/v1/loss-cases/{id}/report", "/api/v1/loss-cases/{id}/recover",
        "/api/v1/custody/maintenance/send", "/api/v1/custody/maintenance/receive", "/api/v1/reports/inspections/",
        "/api/v1/counts/", "/api/v1/counts/{id}/", "/api/v1/counts/{id}/scan", "/api/v1/counts/{id}/submit",
        "/api/v1/counts/{id}/sign", "/api/v1/counts/discrepancies/{id}/resolve",
    } <= set(document["paths"])  # fmt: skip
    custody_writes = (
        "/api/v1/custody/issue", "/api/v1/custody/transfer", "/api/v1/custody/maintenance/send",
        "/api/v1/custody/maintenance/receive",
    )  # fmt: skip
    for custody_write in custody_writes:
        responses = document["paths"][custody_write]["post"]["responses"]
        assert set(responses) == {"201", "400", "401", "403", "404", "409"}, custody_write
    writes = [
        ("/api/v1/members/{member_no}/status", "post"), ("/api/v1/members/{member_no}/vettings/", "post"),
        ("/api/v1/training-sessions/", "post"), ("/api/v1/training-sessions/{id}/results", "post"),
        ("/api/v1/members/{member_no}/pin", "post"), ("/api/v1/loss-cases/", "post"),
        ("/api/v1/loss-cases/{id}/report", "post"), ("/api/v1/loss-cases/{id}/recover", "post"),
        ("/api/v1/counts/", "post"), ("/api/v1/counts/{id}/scan", "post"),
        ("/api/v1/counts/discrepancies/{id}/resolve", "post"),
    ]  # fmt: skip
    for path, method in writes:
        assert set(document["paths"][path][method]["responses"]) >= {"400", "401", "403", "404"}, path
    # A list answers 400 to a malformed ?limit=, ?offset= or filter (core.api_input.StrictLimitOffsetPagination).
    assert set(document["paths"]["/api/v1/members/{member_no}/vettings/"]["get"]["responses"]) == {
        "200", "400", "401", "403", "404"
    }  # fmt: skip
    as_json = json.loads(client.get("/api/schema/?format=json").content)
    assert as_json["paths"].keys() == document["paths"].keys()


@pytest.mark.django_db
def test_it_generates_a_schema_that_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert yaml.safe_load(target.read_text())["info"]["title"] == "Muster API"


@pytest.mark.django_db
def test_it_serves_swagger_ui_from_our_own_static_files(world):
    client = APIClient()
    client.force_authenticate(world.alice)
    page = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in page
    assert f"{settings.STATIC_URL}drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.mark.django_db
def test_it_lists_the_v1_collections_at_the_api_root(world):
    client = APIClient()
    client.force_authenticate(world.bob)
    body = client.get("/api/v1/").json()
    assert set(body) == {
        "units", "members", "qualifications", "courses", "training-sessions", "item-types", "armories", "items",
        "recalls", "ledger", "loss-cases", "counts",
    }  # fmt: skip
    assert body["ledger"] == "http://testserver/api/v1/ledger/"
    assert APIClient().get("/api/v1/").status_code == 401
