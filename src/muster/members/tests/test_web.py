"""The roster web face: the member list and the member page, scoped by unit and role, and the commander's
lifecycle actions on it (status, vetting, disciplinary record)."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.members import services
from muster.members.models import Member

pytestmark = pytest.mark.django_db


def page_of(member: Member) -> str:
    return reverse("member-page", args=[member.member_no])


@pytest.mark.parametrize("url", ["/members/", "/members/M99999/"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank"])
def test_it_lists_the_members_of_the_staff_members_unit_only(client, world, who):
    client.force_login(getattr(world, who))
    response = client.get(reverse("member-index"))
    assert response.status_code == 200
    shown = {member.pk for member in response.context["page_obj"]}
    assert world.bob_member.pk in shown
    assert world.member_b.pk not in shown
    assert world.bob_member.member_no in response.content.decode()


def test_it_forbids_the_member_list_to_a_plain_member(client, world):
    client.force_login(world.bob)
    assert client.get(reverse("member-index")).status_code == 403


def test_it_searches_members_by_name_number_unit_and_status(client, world):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED, first_name="Sam", last_name="Sleeper")
    client.force_login(world.rita)
    url = reverse("member-index")

    def shown(**params):
        return {member.pk for member in client.get(url, params).context["page_obj"]}

    assert shown(q="Baker") == {world.bob_member.pk}
    assert shown(q=world.member_b.member_no) == {world.member_b.pk}
    assert world.member_b.pk not in shown(unit="A")
    assert world.member_b.pk in shown(unit="B")
    assert shown(status="suspended") == {suspended.pk}


@pytest.mark.parametrize(("who", "sees_contact"), [("dave", True), ("erin", True), ("alice", False),
                                                  ("frank", False), ("rita", False)])  # fmt: skip
def test_staff_see_a_member_page_and_commanders_and_auditors_the_contact_data(client, world, who, sees_contact):
    client.force_login(getattr(world, who))
    response = client.get(page_of(world.bob_member))
    assert response.status_code == 200
    assert response.context["member"] == world.bob_member
    assert (world.bob_member.phone in response.content.decode()) is sees_contact


def test_a_member_sees_their_own_page_with_their_contact_data_and_without_staff_extras(client, world):
    client.force_login(world.bob)
    response = client.get(page_of(world.bob_member))
    assert response.status_code == 200
    assert response.context["member"] == world.bob_member
    html = response.content.decode()
    assert world.bob_member.phone in html  # their own: to check it is right
    assert "Issue to this member" not in html


MEMBERS = {"alice": lambda w: w.alice.member, "bob": lambda w: w.bob_member, "member_b": lambda w: w.member_b}


@pytest.mark.parametrize(
    ("who", "whose"), [("bob", "alice"), ("bob", "member_b"), ("alice", "member_b"), ("carol", "bob")]
)
def test_it_answers_404_for_someone_else_outside_the_accounts_reach(client, world, who, whose):
    client.force_login(getattr(world, who))
    assert client.get(page_of(MEMBERS[whose](world))).status_code == 404


def test_it_answers_404_for_an_unknown_member_number(client, world):
    client.force_login(world.alice)
    assert client.get(reverse("member-page", args=["NOPE"])).status_code == 404


def test_the_member_list_query_count_does_not_grow_with_its_rows(client, world):
    client.force_login(world.alice)
    url = reverse("member-index")
    for _ in range(3):
        make_member(world.unit_a)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(url).context["page_obj"]) == 5
    for _ in range(35):
        make_member(world.unit_a)
    with CaptureQueriesContext(connection) as forty:
        assert len(client.get(url).context["page_obj"]) == 40
    assert len(forty) == len(five)


def test_the_admin_manages_units_members_and_accounts_with_their_roles(client, world):
    from muster.members.models import Account

    client.force_login(Account.objects.create_superuser("root", password="x" * 12))
    for name in ["members_unit", "members_member", "members_account"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    page = client.get(reverse("admin:members_account_change", args=[world.alice.pk]))
    assert page.status_code == 200
    assert "roles-TOTAL_FORMS" in page.content.decode()  # the role assignments inline
    assert client.get(reverse("admin:members_account_add")).status_code == 200


# --- the member's lifecycle on the member page -------------------------------------------------------------------


def record_state(member: Member):
    """Everything a refused lifecycle action must leave untouched."""
    member.refresh_from_db()
    return (
        member.status,
        member.vetting_valid_until,
        list(member.status_changes.values_list("pk", flat=True)),
        list(member.vettings.values_list("pk", flat=True)),
        list(member.disciplinary_entries.values_list("pk", flat=True)),
    )


def test_a_commander_sees_the_lifecycle_forms_with_only_the_allowed_transitions(client, world):
    client.force_login(world.dave)
    response = client.get(page_of(world.bob_member))
    choices = [value for value, _ in response.context["status_form"].fields["to_status"].choices]
    assert choices == ["suspended", "departed"]  # from active, per members.services.TRANSITIONS
    html = response.content.decode()
    assert "Change status" in html and "Record a vetting" in html and "Add an entry" in html


@pytest.mark.parametrize("who", ["alice", "erin", "frank", "bob"])
def test_no_one_but_a_commander_gets_the_lifecycle_forms(client, world, who):
    client.force_login(getattr(world, who))
    response = client.get(page_of(world.bob_member))
    assert "status_form" not in response.context
    assert "Change status" not in response.content.decode()


def test_a_commander_changes_a_status_with_a_reason_and_the_history_shows_it(client, world):
    client.force_login(world.dave)
    response = client.post(
        reverse("member-status", args=[world.bob_member.member_no]),
        {"status-to_status": "suspended", "status-reason": "missed three duties"},
    )
    assert response.status_code == 302
    assert response.url == page_of(world.bob_member)
    world.bob_member.refresh_from_db()
    assert world.bob_member.status == Member.Status.SUSPENDED
    change = world.bob_member.status_changes.get()
    assert (change.from_status, change.to_status, change.reason, change.changed_by) == (
        "active", "suspended", "missed three duties", world.dave
    )  # fmt: skip
    client.force_login(world.bob)
    history = client.get(page_of(world.bob_member))
    assert [c.pk for c in history.context["status_changes"]] == [change.pk]
    html = history.content.decode()
    assert "missed three duties" in html and "dave" in html


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"status-to_status": "applicant", "status-reason": "x"}, 400, "Select a valid choice"),
        ({"status-to_status": "suspended", "status-reason": "   "}, 400, "This field is required"),
    ],
)
def test_it_refuses_a_status_change_the_form_does_not_allow(client, world, data, status, message):
    before = record_state(world.bob_member)
    client.force_login(world.dave)
    response = client.post(reverse("member-status", args=[world.bob_member.member_no]), data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert response.context["status_form"].errors
    assert record_state(world.bob_member) == before


def test_it_refuses_to_activate_an_applicant_without_vetting_with_the_service_message(client, world):
    applicant = make_member(world.unit_a, status=Member.Status.APPLICANT, vetted_days=0)
    before = record_state(applicant)
    client.force_login(world.dave)
    response = client.post(
        reverse("member-status", args=[applicant.member_no]), {"status-to_status": "active", "status-reason": "ready"}
    )
    assert response.status_code == 409
    assert "vetting_required" in response.content.decode()
    assert record_state(applicant) == before


@pytest.mark.parametrize("name", ["member-status", "member-vetting", "member-discipline"])
def test_it_forbids_lifecycle_actions_to_non_commanders_and_hides_other_units(client, world, name):
    data = {"status-to_status": "suspended", "status-reason": "x", "vetting-vetted_on": "2024-01-01",
            "vetting-outcome": "failed", "discipline-occurred_on": "2024-01-01", "discipline-kind": "warning",
            "discipline-note": "late"}  # fmt: skip
    before, before_b = record_state(world.bob_member), record_state(world.member_b)
    client.force_login(world.erin)
    assert client.post(reverse(name, args=[world.bob_member.member_no]), data).status_code == 403
    client.force_login(world.dave)
    assert client.post(reverse(name, args=[world.member_b.member_no]), data).status_code == 404
    assert record_state(world.bob_member) == before
    assert record_state(world.member_b) == before_b


def test_a_commander_records_a_passed_vetting(client, world):
    today = timezone.localdate()
    client.force_login(world.dave)
    response = client.post(
        reverse("member-vetting", args=[world.bob_member.member_no]),
        {"vetting-vetted_on": today.isoformat(), "vetting-outcome": "passed",
         "vetting-valid_until": (today + timedelta(days=730)).isoformat(), "vetting-notes": "clean record"},
    )  # fmt: skip
    assert response.status_code == 302
    vetting = world.bob_member.vettings.get()
    assert (vetting.outcome, vetting.vetted_by, vetting.notes) == ("passed", world.dave, "clean record")
    world.bob_member.refresh_from_db()
    assert world.bob_member.vetting_valid_until == today + timedelta(days=730)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"vetting-outcome": "passed"}, 400, "validity_missing"),
        ({"vetting-outcome": "passed", "vetting-valid_until": "2000-01-01"}, 400, "validity_missing"),
        ({"vetting-outcome": "failed", "vetting-vetted_on": "2099-01-01"}, 400, "vetted_in_future"),
        ({"vetting-outcome": "maybe"}, 400, "Select a valid choice"),
    ],
)
def test_it_refuses_a_bad_vetting_and_changes_nothing(client, world, data, status, message):
    form = {"vetting-vetted_on": "2024-06-01"}
    form.update(data)
    before = record_state(world.bob_member)
    client.force_login(world.dave)
    response = client.post(reverse("member-vetting", args=[world.bob_member.member_no]), form)
    assert response.status_code == status
    assert message in response.content.decode()
    assert response.context["vetting_form"].errors
    assert record_state(world.bob_member) == before


def test_a_commander_adds_a_disciplinary_entry_that_only_commanders_and_auditors_read(client, world):
    client.force_login(world.dave)
    response = client.post(
        reverse("member-discipline", args=[world.bob_member.member_no]),
        {"discipline-occurred_on": "2024-05-02", "discipline-kind": "warning", "discipline-note": "asleep on post"},
    )
    assert response.status_code == 302
    entry = world.bob_member.disciplinary_entries.get()
    assert (entry.kind, entry.note, entry.recorded_by) == ("warning", "asleep on post", world.dave)
    for who, reads in [("dave", True), ("erin", True), ("alice", False), ("frank", False), ("bob", False)]:
        client.force_login(getattr(world, who))
        shown = client.get(page_of(world.bob_member))
        assert ("asleep on post" in shown.content.decode()) == reads, who
        assert (shown.context["disciplinary"] is not None) == reads, who


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"discipline-note": ""}, "This field is required"),
        ({"discipline-occurred_on": "2099-01-01"}, "date_in_future"),
    ],
)
def test_it_refuses_a_bad_disciplinary_entry_and_changes_nothing(client, world, data, message):
    form = {"discipline-occurred_on": "2024-05-02", "discipline-kind": "warning", "discipline-note": "late"}
    form.update(data)
    before = record_state(world.bob_member)
    client.force_login(world.dave)
    response = client.post(reverse("member-discipline", args=[world.bob_member.member_no]), form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert record_state(world.bob_member) == before


def test_the_member_page_query_count_does_not_grow_with_the_record(client, world):
    client.force_login(world.dave)
    url = page_of(world.bob_member)

    def add(count):
        for number in range(count):
            services.add_disciplinary_entry(
                member=world.bob_member,
                occurred_on=date(2024, 1, 1),
                kind="warning",
                note=f"n{number}",
                actor=world.dave,
            )
            services.record_vetting(
                member=world.bob_member, vetted_on=date(2024, 1, 1), outcome="passed", valid_until=date(2030, 1, 1),
                actor=world.dave,
            )  # fmt: skip

    add(5)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(url).context["vettings"]) == 5
    add(35)
    with CaptureQueriesContext(connection) as forty:
        response = client.get(url)
    assert len(response.context["disciplinary"]) == 40
    assert len(forty) == len(five)
