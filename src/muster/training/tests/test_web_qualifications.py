"""The member page's qualifications section with prior service, the expiry report with its downloads, and the
training admin."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site as admin_site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from muster.core.testing import make_member
from muster.members.models import Account
from muster.training import services
from muster.training.models import MemberQualification
from muster.training.testing import make_course, make_qualification, qualify

pytestmark = pytest.mark.django_db


@pytest.fixture
def rifle(world):
    return make_qualification("rifle-ak", name="Rifle (AK)")


# --- the member page's qualifications ------------------------------------------------------------------------------


def training_section(response):
    (section,) = [s for s in response.context["sections"] if s.template == "training/_member_section.html"]
    return section


def test_the_member_page_shows_each_qualification_with_its_latest_expiry_and_standing(client, world, rifle):
    qualify(world.bob_member, rifle, world.dave, days_left=20)
    latest = qualify(world.bob_member, rifle, world.dave, days_left=300)  # a renewal: the latest expiry counts
    soon = qualify(world.bob_member, make_qualification("radio", name="Radio operator"), world.dave, days_left=10)
    gone = qualify(world.bob_member, make_qualification("drone", name="Counter-drone"), world.dave, days_left=-5)
    client.force_login(world.bob)
    response = client.get(reverse("member-page", args=[world.bob_member.member_no]))
    rows = {grant.pk: standing for grant, standing, _ in training_section(response).context["rows"]}
    assert rows == {latest.pk: "valid", soon.pk: "expiring", gone.pk: "expired"}
    html = response.content.decode()
    assert "expires in 10 days" in html and "expired" in html
    assert "Prior service" in html
    assert "Evidence: test record" not in html  # evidence is for staff
    assert "Record prior service" not in html
    client.force_login(world.erin)
    assert (
        "Evidence: test record"
        in client.get(reverse("member-page", args=[world.bob_member.member_no])).content.decode()
    )


def test_a_commander_records_prior_service(client, world, rifle):
    client.force_login(world.dave)
    page_html = client.get(reverse("member-page", args=[world.bob_member.member_no])).content.decode()
    assert "Record prior service" in page_html
    today = timezone.localdate()
    response = client.post(
        reverse("member-prior-service", args=[world.bob_member.member_no]),
        {
            "prior-qualification": rifle.pk,
            "prior-granted_on": (today - timedelta(days=100)).isoformat(),
            "prior-expires_on": (today + timedelta(days=265)).isoformat(),
            "prior-evidence": "Military ID 123, unit cert 9",
        },
    )
    assert response.status_code == 302
    grant = MemberQualification.objects.get(member=world.bob_member)
    assert (grant.source, grant.evidence, grant.granted_by) == (
        "prior_service",
        "Military ID 123, unit cert 9",
        world.dave,
    )


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"prior-evidence": ""}, 400, "This field is required"),
        ({"prior-expires_on": "2020-01-01"}, 400, "expiry_before_grant"),
        ({"prior-granted_on": "2099-01-01", "prior-expires_on": "2100-01-01"}, 400, "grant_in_future"),
    ],
)
def test_it_refuses_bad_prior_service_and_records_nothing(client, world, rifle, change, status, message):
    data = {"prior-qualification": rifle.pk, "prior-granted_on": "2021-01-01", "prior-expires_on": "2030-01-01",
            "prior-evidence": "unit record"}  # fmt: skip
    data.update(change)
    client.force_login(world.dave)
    response = client.post(reverse("member-prior-service", args=[world.bob_member.member_no]), data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert training_section(response).context["prior_service_form"].errors
    assert not MemberQualification.objects.exists()


def test_only_a_commander_of_the_members_unit_records_prior_service(client, world, rifle):
    data = {"prior-qualification": rifle.pk, "prior-granted_on": "2021-01-01", "prior-expires_on": "2030-01-01",
            "prior-evidence": "unit record"}  # fmt: skip
    client.force_login(world.alice)
    assert client.post(reverse("member-prior-service", args=[world.bob_member.member_no]), data).status_code == 403
    client.force_login(world.dave)
    assert client.post(reverse("member-prior-service", args=[world.member_b.member_no]), data).status_code == 404
    assert not MemberQualification.objects.exists()


# --- the expiry report ---------------------------------------------------------------------------------------------


@pytest.fixture
def expiring_world(world, rifle):
    radio = make_qualification("radio", name="Radio operator")
    evil = make_member(world.unit_a, first_name="=cmd|' /C calc'!A0", last_name="Evil")
    return {
        "soon": qualify(world.bob_member, rifle, world.dave, days_left=5),
        "later": qualify(evil, radio, world.dave, days_left=20),
        "far": qualify(world.bob_member, radio, world.dave, days_left=200),
        "gone": qualify(evil, rifle, world.dave, days_left=-1),
        "other_unit": qualify(world.member_b, rifle, world.dave, days_left=3),
        "evil": evil,
    }


def test_the_expiry_report_lists_who_expires_what_within_the_days(client, world, expiring_world):
    client.force_login(world.alice)
    response = client.get(reverse("training-expiring"))
    assert response.status_code == 200
    rows = [(row.member.pk, row.qualification.code, row.days_left) for row in response.context["rows"]]
    assert rows == [(world.bob_member.pk, "rifle-ak", 5), (expiring_world["evil"].pk, "radio", 20)]
    narrow = client.get(reverse("training-expiring"), {"days": 7})
    assert [row.member.pk for row in narrow.context["rows"]] == [world.bob_member.pk]
    wide = client.get(reverse("training-expiring"), {"days": 365, "unit": "A"})
    assert len(wide.context["rows"]) == 3


def test_the_expiry_report_answers_404_for_another_unit_and_400_for_bad_days(client, world, expiring_world):
    client.force_login(world.alice)
    assert client.get(reverse("training-expiring"), {"unit": "B"}).status_code == 404
    bad = client.get(reverse("training-expiring"), {"days": "soon"})
    assert bad.status_code == 400
    assert bad.context["form"].errors["days"]
    client.force_login(world.rita)
    in_b = client.get(reverse("training-expiring"), {"unit": "B"})
    assert [row.member.pk for row in in_b.context["rows"]] == [world.member_b.pk]


def test_the_expiry_report_downloads_as_csv_with_formulas_neutralised(client, world, expiring_world):
    client.force_login(world.alice)
    response = client.get(reverse("training-expiring"), {"days": 30, "unit": "A", "export": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="expiring-qualifications-{today}-30d-A.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Member number", "Last name", "First name", "Unit", "Qualification"]
    assert rows[1][0] == world.bob_member.member_no
    assert rows[1][4:] == ["Rifle (AK)", expiring_world["soon"].expires_on.isoformat(), "5"]
    assert rows[2][2] == "'=cmd|' /C calc'!A0"
    assert len(rows) == 3


def test_the_expiry_report_downloads_as_xlsx_with_formulas_neutralised(client, world, expiring_world):
    client.force_login(world.alice)
    response = client.get(reverse("training-expiring"), {"export": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].endswith('-30d.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "Member number"
    assert values[1][0] == world.bob_member.member_no
    assert values[1][4] == "Rifle (AK)"
    assert values[1][5].date() == expiring_world["soon"].expires_on
    assert values[1][6] == 5
    assert values[2][2] == "'=cmd|' /C calc'!A0"
    assert sheet.cell(row=3, column=3).data_type == "s"  # text, not a formula
    assert len(values) == 3


def test_the_expiry_report_query_count_does_not_grow_with_its_rows(client, world, rifle):
    client.force_login(world.alice)
    url = reverse("training-expiring")
    for days in range(5):
        qualify(make_member(world.unit_a), rifle, world.dave, days_left=days + 1)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(url).context["rows"]) == 5
    for days in range(35):
        qualify(make_member(world.unit_a), rifle, world.dave, days_left=days % 25 + 1)
    with CaptureQueriesContext(connection) as forty:
        assert len(client.get(url).context["rows"]) == 40
    assert len(forty) == len(five)


# --- admin ---------------------------------------------------------------------------------------------------------


def test_the_admin_manages_qualifications_courses_and_shows_sessions_and_grants(client, world, rifle):
    session = services.schedule_session(
        course=make_course("basic-rifle", grants=[rifle]), unit=world.unit_a, starts_at=timezone.now(), place="Range",
        actor=world.dave,
    )  # fmt: skip
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    grant = qualify(world.bob_member, rifle, world.dave)
    client.force_login(Account.objects.create_superuser("root", password="x" * 12))
    for name in ["qualification", "course", "trainingsession", "memberqualification"]:
        assert client.get(reverse(f"admin:training_{name}_changelist")).status_code == 200
    session_page = client.get(reverse("admin:training_trainingsession_change", args=[session.pk]))
    assert session_page.status_code == 200
    assert world.bob_member.full_name in session_page.content.decode()  # the roster inline, read-only
    assert "Rifle (AK)" in client.get(reverse("admin:training_course_changelist")).content.decode()
    grant_admin = admin_site._registry[MemberQualification]
    request = type("Request", (), {"user": Account.objects.get(username="root")})()
    assert not grant_admin.has_add_permission(request)
    assert not grant_admin.has_change_permission(request, grant)
    assert not grant_admin.has_delete_permission(request, grant)
