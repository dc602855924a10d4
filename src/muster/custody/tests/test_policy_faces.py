"""The per-unit custody policy on the web (one page per unit, an overview) and in the API (GET / PUT)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from muster.core.models import AuditEvent
from muster.core.testing import make_account
from muster.custody import policy
from muster.custody.policy_models import UnitPolicy
from muster.members.models import Role

pytestmark = pytest.mark.django_db

FORM_FIELDS = ("default_loan_hours", "loss_report_hours", "overdue_escalation_hours", "counter_rotates",
               "second_signature", "count_frequency")  # fmt: skip


def page(code: str) -> str:
    return reverse("unit-custody-policy", args=[code])


def api(code: str) -> str:
    return f"/api/v1/units/{code}/custody-policy"


def api_client(account) -> APIClient:
    client = APIClient()
    if account is not None:
        client.force_authenticate(account)
    return client


def policy_state() -> tuple:
    return list(UnitPolicy.objects.order_by("pk").values()), AuditEvent.objects.filter(kind=policy.AUDIT_KIND).count()


@pytest.fixture
def policies(world, settings):
    """The region sets the loan period and the count frequency; A sets its own loss deadline."""
    settings.MUSTER_OVERDUE_ESCALATION_HOURS = 12
    UnitPolicy.objects.create(unit=world.region, default_loan_hours=72, count_frequency="monthly")
    UnitPolicy.objects.create(unit=world.unit_a, loss_report_hours=6)


def form_data(**changes) -> dict:
    data = dict.fromkeys(FORM_FIELDS, "")
    data.update(changes)
    return data


# --- web -------------------------------------------------------------------------------------------------------


def test_the_page_shows_each_rule_in_force_and_where_it_comes_from(client, world, policies):
    client.force_login(world.erin)
    response = client.get(page("A"))
    assert response.status_code == 200
    rows = {row["name"]: (row["value"], row["source"]) for row in response.context["rows"]}
    assert rows == {
        "default_loan_hours": ("72", "from region R"),
        "loss_report_hours": ("6", "set here"),
        "overdue_escalation_hours": ("12", "site default"),
        "counter_rotates": ("yes", "site default"),
        "second_signature": ("yes", "site default"),
        "count_frequency": ("monthly", "from region R"),
    }
    html = response.content.decode()
    assert "from region R" in html and "set here" in html and "site default" in html
    assert 'data-testid="policy-read-only"' in html and 'data-testid="policy-form"' not in html  # an auditor reads


def test_a_commander_gets_the_form_with_the_units_own_settings(client, world, policies):
    client.force_login(world.dave)
    response = client.get(page("A"))
    form = response.context["form"]
    assert form.initial == {"loss_report_hours": 6}
    assert form.fields["default_loan_hours"].help_text == "Empty: inherit (72, from region R)."
    assert form.fields["loss_report_hours"].help_text.startswith("Empty: inherit (")
    assert 'data-testid="policy-form"' in response.content.decode()


def test_a_commander_saves_and_an_empty_field_inherits(client, world, policies):
    client.force_login(world.dave)
    response = client.post(page("A"), form_data(default_loan_hours="24", counter_rotates="no", count_frequency="daily"))
    assert response.status_code == 302 and response["Location"] == page("A")
    row = UnitPolicy.objects.get(unit=world.unit_a)
    assert (row.default_loan_hours, row.loss_report_hours, row.counter_rotates) == (24, None, False)
    assert (row.second_signature, row.count_frequency, row.updated_by) == (None, "daily", world.dave)
    assert AuditEvent.objects.filter(kind=policy.AUDIT_KIND, account=world.dave).count() == 1
    shown = {row["name"]: row["source"] for row in client.get(page("A")).context["rows"]}
    assert shown["loss_report_hours"] == "site default" and shown["default_loan_hours"] == "set here"


def test_an_invalid_value_shows_under_its_field_and_saves_nothing(client, world, policies):
    client.force_login(world.dave)
    before = policy_state()
    response = client.post(page("A"), form_data(default_loan_hours="0", loss_report_hours="6"))
    assert response.status_code == 400
    errors = response.context["form"].errors["default_loan_hours"]
    assert errors == [f"default_loan_hours must be between 1 and {policy.MAX_HOURS} hours. [hours_out_of_range]"]
    assert policy_state() == before
    assert client.post(page("A"), form_data(loss_report_hours="six")).status_code == 400
    assert policy_state() == before


def test_who_may_not_change_the_page(client, world, policies):
    before = policy_state()
    for who in (world.alice, world.erin, world.frank):
        client.force_login(who)
        assert client.post(page("A"), form_data(default_loan_hours="1")).status_code == 403
    client.force_login(world.bob)  # a plain member: not staff of A
    assert client.get(page("A")).status_code == 403
    client.force_login(world.dave)
    assert client.get(page("B")).status_code == 404  # another unit
    assert client.get(page("R")).status_code == 404  # the unit above his
    assert client.post(page("B"), form_data(default_loan_hours="1")).status_code == 404
    assert policy_state() == before


def test_a_regional_commander_edits_a_company_below(client, world, policies):
    client.force_login(make_account("regina", roles=[(Role.COMMANDER, world.region)]))
    assert client.post(page("B"), form_data(second_signature="no")).status_code == 302
    assert UnitPolicy.objects.get(unit=world.unit_b).second_signature is False


def test_the_overview_lists_the_callers_units(client, world, policies):
    client.force_login(world.dave)
    response = client.get(reverse("unit-custody-policies"))
    assert [row["unit"].code for row in response.context["rows"]] == ["A"]
    html = response.content.decode()
    assert page("A") in html and page("B") not in html
    client.force_login(world.rita)  # armorer of the region: R, A and B
    codes = [row["unit"].code for row in client.get(reverse("unit-custody-policies")).context["rows"]]
    assert codes == ["R", "A", "B"]


# --- API -------------------------------------------------------------------------------------------------------


def test_the_api_describes_the_policy(world, policies):
    body = api_client(world.frank).get(api("A")).json()
    assert body["unit"] == "A" and body["can_edit"] is False
    assert body["settings"] == dict.fromkeys(FORM_FIELDS, None) | {"loss_report_hours": 6}
    assert body["effective"]["default_loan_hours"] == {"value": 72, "source": "R"}
    assert body["effective"]["loss_report_hours"] == {"value": 6, "source": "A"}
    assert body["effective"]["overdue_escalation_hours"] == {"value": 12, "source": None}
    assert body["effective"]["counter_rotates"] == {"value": True, "source": None}
    assert api_client(world.dave).get(api("A")).json()["can_edit"] is True


def test_a_put_replaces_the_units_own_settings(world, policies):
    response = api_client(world.dave).put(
        api("A"), {"default_loan_hours": 12, "second_signature": False}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["settings"] == dict.fromkeys(FORM_FIELDS, None) | {"default_loan_hours": 12, "second_signature": False}
    assert body["effective"]["loss_report_hours"] == {"value": 24, "source": None}  # left out: inherited again
    assert body["updated_by"] == "dave" and body["updated_at"]
    assert AuditEvent.objects.filter(kind=policy.AUDIT_KIND).count() == 1


@pytest.mark.parametrize(
    ("who", "code", "status", "answer"),
    [
        (None, "A", 401, "not_authenticated"),
        ("bob", "A", 403, "not_staff"),
        ("dave", "B", 404, "unit_not_found"),
        ("dave", "R", 404, "unit_not_found"),
    ],
)
def test_the_api_refuses_reading_outside_the_callers_staff_units(world, policies, who, code, status, answer):
    response = api_client(getattr(world, who) if who else None).get(api(code))
    assert (response.status_code, response.json()["code"]) == (status, answer)


@pytest.mark.parametrize(
    ("who", "body", "status", "answer"),
    [
        ("alice", {"default_loan_hours": 1}, 403, "not_commander"),
        ("erin", {"default_loan_hours": 1}, 403, "not_commander"),
        ("frank", {"default_loan_hours": "garbage"}, 403, "not_commander"),  # the role before the body
        ("bob", {"default_loan_hours": 1}, 403, "not_staff"),
        ("dave", {"default_loan_hours": 0}, 400, "hours_out_of_range"),
        ("dave", {"overdue_escalation_hours": 9000}, 400, "hours_out_of_range"),
        ("dave", {"default_loan_hours": "twelve"}, 400, "invalid"),
        ("dave", {"count_frequency": "hourly"}, 400, "invalid"),
        ("dave", {"loan_hours": 12}, 400, "unknown_setting"),
    ],
)
def test_the_api_refuses_a_put_and_changes_nothing(world, policies, who, body, status, answer):
    before = policy_state()
    response = api_client(getattr(world, who)).put(api("A"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, answer)
    assert policy_state() == before


def test_a_put_to_another_unit_is_not_found(world, policies):
    before = policy_state()
    assert api_client(world.dave).put(api("B"), {"default_loan_hours": 1}, format="json").status_code == 404
    assert policy_state() == before
