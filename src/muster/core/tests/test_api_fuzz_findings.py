"""What the API fuzzing (test_api_fuzz.py) found, pinned as plain tests: each answer here was a 500, a page of
HTML, a silently ignored parameter or a body the schema did not describe. The fuzz run finds such things by
chance; these keep them fixed in every run."""

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from muster.core.api import _nul_refusal
from muster.core.api_input import StrictLimitOffsetPagination
from muster.core.models import AuditEvent
from muster.custody import counts, losses, lot_balances, lot_losses
from muster.custody.models import LossCase
from muster.custody.testing import make_item, make_lot

pytestmark = pytest.mark.django_db


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def lot_case(world) -> LossCase:
    lot = make_lot(world.armory_a, world.alice, quantity=100)
    return lot_losses.report_loss(
        lot=lot, quantity=5, kind="lost", circumstances="Box torn open in the store.", place="Store",
        occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice, armory=world.armory_a,
    )  # fmt: skip


def item_case(world) -> LossCase:
    return losses.open_case(
        item=make_item(world.armory_a, world.alice), kind="lost", circumstances="Not found after the exercise.",
        occurred_at=timezone.now() - timedelta(hours=2), place="Range", actor=world.alice,
    )  # fmt: skip


# --- server errors -------------------------------------------------------------------------------------------------


def test_it_records_the_police_report_of_a_lots_loss_case(world):
    # Was a 500: the view looked for the unit on the case's item, and a lot's case has none.
    case = lot_case(world)
    response = client_for(world.frank).post(
        f"/api/v1/loss-cases/{case.pk}/report", {"police_report_no": "UA-2026-118"}, format="json"
    )
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert (case.police_report_no, case.authorities_notified_at is not None) == ("UA-2026-118", True)
    assert response.json()["lot"] == case.lot_id


def test_a_nul_character_that_reaches_the_database_is_refused_not_a_server_error():
    # PostgreSQL refuses NUL in text (psycopg raises DataError before the query is sent): in a path it names
    # nothing (404), elsewhere the input is malformed (400).
    assert _nul_refusal({"kwargs": {"member_no": "M1\x00"}}).as_dict() == {"code": "not_found", "detail": "Not found."}
    assert _nul_refusal({"kwargs": {}}).http_status == 400


def test_a_code_or_number_with_a_nul_in_the_path_answers_404(world):
    client = client_for(world.dave)
    for path in ("/api/v1/members/M1%00/", "/api/v1/units/A%00/dashboard", "/api/v1/members/M1%00/pin"):
        response = client.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json"), path


def test_a_refusal_of_a_path_with_a_nul_is_audited_with_the_nul_written_out(world):
    # On PostgreSQL the audit row's INSERT failed (no NUL in text), so the 403 became a 500.
    response = client_for(world.bob).get("/api/v1/courses/X%00/")
    assert (response.status_code, response.json()["code"]) == (403, "not_staff")
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REFUSED).latest("pk").path == "/api/v1/courses/X\\x00/"


# --- JSON, not Django's HTML page ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/lots/abc/"),
        ("post", "/api/v1/lots/abc/issue"),
        ("post", "/api/v1/counts/abc/scan"),
        ("post", "/api/v1/counts/discrepancies/abc/resolve"),
        ("post", "/api/v1/loss-cases/abc/report"),
        ("post", "/api/v1/loss-cases/1.5/recover-lot"),
        ("post", "/api/v1/training-sessions/abc/cancel"),
        ("get", "/api/v1/items/1.5/"),
        ("get", "/api/v1/recalls/-1.5/"),
        ("get", "/api/v1/changes/0.5/"),
        ("get", "/api/v1/armories/ARM.A/"),
    ],
)
def test_an_id_that_is_no_number_answers_json_404_and_strangers_401(world, method, path):
    staff = world.dave if path.startswith("/api/v1/changes/") else world.rita  # the change log is for commanders
    response = getattr(client_for(staff), method)(path, {}, format="json")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json"), response.content
    assert getattr(APIClient(), method)(path, {}, format="json").status_code == 401


def test_an_unknown_format_answers_a_stranger_401_not_404(world):
    # DRF picks the renderer before it authenticates: ?format=nonsense was a 404 to anyone.
    response = APIClient().get("/api/v1/ledger/1/receipt.pdf?format=nonsense")
    assert (response.status_code, response.json()["code"], response["WWW-Authenticate"]) == (
        401, "not_authenticated", "Token"
    )  # fmt: skip
    assert client_for(world.alice).get("/api/v1/items/?format=nonsense").status_code == 404


# --- parameters read strictly -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc", "limit=0", "limit=-1", "limit=true", "offset=null", "offset=-1", "offset=1.5", "offset=1&offset=2",
    ],
)  # fmt: skip
def test_an_unreadable_page_answers_400_instead_of_the_first_page(world, query):
    response = client_for(world.alice).get(f"/api/v1/items/?{query}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid"), response.content
    assert set(response.json()["errors"]) <= {"limit", "offset"}


def test_a_limit_above_the_maximum_is_cut_to_it():
    request = Request(APIRequestFactory().get("/api/v1/items/?limit=5000&offset=7"))
    paginator = StrictLimitOffsetPagination()
    assert (paginator.get_limit(request), paginator.get_offset(request)) == (1000, 7)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/ledger/?until=", "until"),
        ("/api/v1/ledger/?after_seq=0.5", "after_seq"),
        ("/api/v1/ledger/?kind=issue&kind=return", "kind"),
        ("/api/v1/lots/?recalled=maybe", "recalled"),
        ("/api/v1/members/?is_veteran=1", "is_veteran"),
        ("/api/v1/members/?status=", "status"),
        ("/api/v1/training-sessions/?to=", "to"),
        ("/api/v1/recalls/?state=", "state"),
        ("/api/v1/reports/expiring/?unit=", "unit"),
        ("/api/v1/reports/expiring/?days=5&days=6", "days"),
        ("/api/v1/keys/?unit=A&unit=B", "unit"),
    ],
)
def test_an_unreadable_filter_answers_400_instead_of_being_ignored(world, path, field):
    response = client_for(world.rita).get(path)
    assert (response.status_code, response.json()["code"]) == (400, "invalid"), response.content
    assert field in response.json()["errors"]


def test_a_blank_free_text_filter_is_no_filter(world):
    make_item(world.armory_a, world.alice)
    response = client_for(world.alice).get("/api/v1/items/?q=&armory=")
    assert (response.status_code, response.json()["count"]) == (200, 1)


def test_an_item_type_that_names_nothing_finds_no_items(world):
    # Was 400 "Select a valid choice" for any id that is not a type's, although the schema allows any id.
    make_item(world.armory_a, world.alice)
    response = client_for(world.alice).get("/api/v1/items/?item_type=999999")
    assert (response.status_code, response.json()["count"]) == (200, 0)


def test_a_lots_loss_case_is_found_by_its_lots_armory(world):
    case, other = lot_case(world), item_case(world)
    listed = client_for(world.alice).get("/api/v1/loss-cases/?armory=ARM-A").json()["results"]
    assert {row["id"] for row in listed} == {case.pk, other.pk}


# --- bodies as the schema describes them ---------------------------------------------------------------------------


def test_nested_field_errors_are_summed_up_by_their_path(world):
    override = {"commander": "dave", "commander_password": "x", "reason": "y" * 3000}
    response = client_for(world.alice).post(
        "/api/v1/custody/issue", {"item": 1, "member": "M1", "override": override}, format="json"
    )
    too_long = "Ensure this field has no more than 2000 characters."
    assert response.status_code == 400
    assert response.json()["errors"] == {"override": {"reason": [too_long]}}
    assert response.json()["detail"] == f"Invalid input — override.reason: {too_long}"


def test_a_counts_unsigned_and_unresolved_fields_are_null_or_blank_as_the_schema_says(world):
    make_item(world.armory_a, world.alice)
    submitted = counts.start(armory=world.armory_a, actor=world.alice)
    counts.submit(count=submitted, actor=world.alice)  # the item was not scanned: a discrepancy
    under_way = counts.start(armory=world.armory_b, actor=world.carol)
    discrepancy = client_for(world.alice).get(f"/api/v1/counts/{submitted.pk}/").json()["discrepancies"][0]
    assert (discrepancy["resolution"], discrepancy["resolved_by"], discrepancy["loss_case"]) == ("", None, None)
    assert client_for(world.carol).get(f"/api/v1/counts/{under_way.pk}/").json()["signed_by"] is None
    schema = yaml.safe_load(client_for(world.alice).get("/api/schema/").content)["components"]["schemas"]
    assert schema["Count"]["properties"]["signed_by"]["nullable"] is True
    assert schema["Discrepancy"]["properties"]["resolved_by"]["nullable"] is True
    assert "" in str(schema["Discrepancy"]["properties"]["resolution"])


def test_the_schema_says_what_the_api_takes(world):
    document = yaml.safe_load(client_for(world.alice).get("/api/schema/").content)
    paths, schemas = document["paths"], document["components"]["schemas"]
    lot_issue = paths["/api/v1/lots/{id}/issue"]["post"]
    assert [p["schema"] for p in lot_issue["parameters"] if p["name"] == "id"] == [{"type": "integer"}]
    offset = next(p for p in paths["/api/v1/items/"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"] == {"type": "integer", "minimum": 0}
    assert "400" in paths["/api/v1/items/"]["get"]["responses"]
    assert schemas["LotIssueRequest"]["properties"]["quantity"] == {
        "type": "integer", "minimum": 1, "maximum": lot_balances.MAX_QUANTITY,
        "description": "A whole number from 1 to 10,000,000 (400 quantity_not_positive / quantity_too_large)",
    }  # fmt: skip
    assert schemas["ReportRequest"]["properties"]["police_report_no"]["pattern"] == r"\S"
    assert schemas["LossKindCode"]["enum"] == ["lost", "stolen", "damaged", "unaccounted"]
    assert schemas["MemberStatusCode"]["enum"] == ["applicant", "active", "suspended", "departed"]
