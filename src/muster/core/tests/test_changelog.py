"""The change log: what a record says (diffs, secrets), that it shares the change's transaction, that the database
refuses to alter it, and who reads it where (web and API, scoped to units, with filters)."""

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core import changelog
from muster.core.models import ChangeRecord
from muster.core.testing import make_account, make_member
from muster.members import hooks, services
from muster.members.models import Account, Member, Role, StatusChange
from muster.training import services as training
from muster.training.testing import make_course, make_qualification

TODAY = timezone.localdate


def records_of(obj) -> list[ChangeRecord]:
    return list(ChangeRecord.objects.filter(object_type=changelog.label(obj), object_id=str(obj.pk)).order_by("pk"))


# --- what a record says ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_logs_a_status_change_as_a_diff_with_who_and_which_unit(world):
    services.change_status(member=world.bob_member, to_status="suspended", reason="absent", actor=world.dave)
    [update] = records_of(world.bob_member)
    assert update.action == changelog.UPDATE
    assert update.changes == {"status": ["active", "suspended"]}
    assert (update.actor, update.actor_name, update.unit) == (world.dave, "dave", world.unit_a)
    assert update.object_repr == str(world.bob_member)
    [created] = records_of(StatusChange.objects.get(member=world.bob_member))
    assert created.action == changelog.CREATE
    assert created.changes["reason"] == [None, "absent"]
    assert (created.related_type, created.related_id) == ("members.member", str(world.bob_member.pk))


@pytest.mark.django_db
def test_a_failed_vetting_logs_the_end_of_the_members_validity(world):
    valid_until = world.bob_member.vetting_valid_until.isoformat()
    services.record_vetting(member=world.bob_member, vetted_on=TODAY(), outcome="failed", actor=world.dave)
    [update] = records_of(world.bob_member)
    assert update.changes == {"vetting_valid_until": [valid_until, None]}


@pytest.mark.django_db
def test_a_create_logs_every_field_that_has_a_value(world):
    unit = services.create_unit(code="A-1", name="Platoon 1", parent=world.unit_a, actor=world.dave, kind="platoon")
    [created] = records_of(unit)
    assert created.unit == unit
    assert created.changes["code"] == [None, "A-1"]
    assert created.changes["parent"] == [None, world.unit_a.pk]
    assert created.changes["path"] == [None, unit.path]


@pytest.mark.django_db
def test_it_never_logs_a_password_hash_or_a_token(world):
    account = services.create_account(
        username="newbie", role=Role.MEMBER, unit=world.unit_a, actor=world.dave,
        password="a-long-unusual-passphrase-81", member=make_member(world.unit_a),
    )  # fmt: skip
    [created] = records_of(account)
    assert created.changes["password"] == [None, changelog.SECRET_SET]
    first = services.issue_token(account=account, actor=account)
    second = services.issue_token(account=account, actor=account, rotate=True)
    services.issue_token(account=account, actor=account)  # the same token again: nothing changes, nothing logged
    issued, rotated = records_of(account)[1:]
    assert issued.changes == {"api_token": [None, changelog.SECRET_SET]}
    assert rotated.changes == {"api_token": [changelog.SECRET_SET, changelog.SECRET_CHANGED]}
    text = json.dumps(list(ChangeRecord.objects.values()), default=str)
    assert account.password not in text and first.key not in text and second.key not in text


@pytest.mark.django_db
def test_an_update_that_changes_nothing_writes_nothing(world):
    with transaction.atomic():
        before = changelog.snapshot(world.bob_member)
        made = changelog.record(actor=world.dave, obj=world.bob_member, action=changelog.UPDATE, before=before)
    assert made is None
    assert not ChangeRecord.objects.exists()


@pytest.mark.django_db
def test_results_log_each_trainee_each_grant_and_the_sessions_completion(world):
    course = make_course("basic", grants=[make_qualification("rifle")])
    session = training.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() - timedelta(hours=1), place="Range",
        actor=world.dave,
    )  # fmt: skip
    training.enroll(session=session, members=[world.bob_member], actor=world.dave)
    [grant] = training.record_results(
        session=session, results=[training.Result(world.bob_member, attended=True, passed=True)], actor=world.dave
    )
    _created, completed = records_of(session)
    assert completed.changes["status"] == ["planned", "completed"]
    assert completed.changes["completed_by"] == [None, world.dave.pk]
    [trainee_created, trainee_updated] = records_of(session.trainees.get())
    assert trainee_updated.changes == {"attended": [None, True], "result": ["pending", "passed"]}
    assert records_of(grant)[0].related_id == str(world.bob_member.pk)
    assert {trainee_created.unit, records_of(grant)[0].unit} == {world.unit_a}


@pytest.mark.django_db
def test_a_delete_logs_the_values_the_record_had(world):
    course = make_course("gone", grants=[])
    with transaction.atomic():
        changelog.record(actor=world.dave, obj=course, action=changelog.DELETE)
        course.delete()
    [deleted] = ChangeRecord.objects.filter(object_type="training.course")
    assert deleted.unit is None  # a course is site-wide
    assert deleted.changes["code"] == ["gone", None]


def test_a_snapshot_is_plain_json():
    member = Member(member_no="M1", first_name="A", last_name="B", unit_id=3, joined_on=TODAY())
    values = changelog.snapshot(member)
    assert values["unit"] == 3 and values["joined_on"] == TODAY().isoformat()
    json.dumps(values)


# --- the same transaction -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_service_that_fails_after_the_change_leaves_no_record(world, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("the recall hook broke")

    monkeypatch.setattr(hooks.member_lapsed, "send", explode)
    with pytest.raises(RuntimeError):
        services.change_status(member=world.bob_member, to_status="suspended", reason="absent", actor=world.dave)
    assert not ChangeRecord.objects.exists()
    assert not StatusChange.objects.filter(member=world.bob_member).exists()
    world.bob_member.refresh_from_db()
    assert world.bob_member.status == Member.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(world):
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        changelog.record(actor=world.dave, obj=world.unit_a, action=changelog.CREATE)
    assert not ChangeRecord.objects.exists()


# --- append-only ----------------------------------------------------------------------------------------------------


@pytest.fixture
def logged(world):
    services.add_disciplinary_entry(
        member=world.bob_member, occurred_on=TODAY(), kind="warning", note="late", actor=world.dave
    )
    return ChangeRecord.objects.get()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        lambda record: ChangeRecord.objects.filter(pk=record.pk).update(actor_name="someone else"),
        lambda record: ChangeRecord.objects.filter(pk=record.pk).delete(),
        lambda record: record.delete(),
        lambda record: connection.cursor().execute("UPDATE core_changerecord SET changes = '{}'"),
        lambda record: connection.cursor().execute("DELETE FROM core_changerecord"),
    ],
    ids=["queryset-update", "queryset-delete", "instance-delete", "sql-update", "sql-delete"],
)
def test_the_database_refuses_to_alter_the_log(logged, tamper):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        tamper(logged)
    assert ChangeRecord.objects.get().actor_name == "dave"


@pytest.mark.django_db
def test_postgresql_refuses_to_truncate_a_log_with_records(logged):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the insert's deferred key checks, which block TRUNCATE
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        connection.cursor().execute("TRUNCATE core_changerecord")
    assert ChangeRecord.objects.count() == 1


# --- reading: web and API, scoped ------------------------------------------------------------------------------------


@pytest.fixture
def spread(world):
    """A change in A (bob suspended by dave), one in B (by cora), and a site-wide one (a course, by a superuser)."""
    cora = make_account("cora", roles=[(Role.COMMANDER, world.unit_b)])
    services.change_status(member=world.bob_member, to_status="suspended", reason="absent", actor=world.dave)
    services.add_disciplinary_entry(
        member=world.member_b, occurred_on=TODAY(), kind="warning", note="note-of-unit-b", actor=cora
    )
    root = Account.objects.create_superuser(username="root", password=None)
    with transaction.atomic():
        changelog.record(actor=root, obj=make_course("site", grants=[]), action=changelog.CREATE)
    return {
        "a": ChangeRecord.objects.filter(unit=world.unit_a).order_by("pk"),
        "b": ChangeRecord.objects.get(unit=world.unit_b),
        "site": ChangeRecord.objects.get(unit=None),
        "root": root,
    }


def api_ids(account, query: str = "") -> list[int]:
    client = APIClient()
    client.force_authenticate(account)
    response = client.get(f"/api/v1/changes/{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["dave", "erin"])
def test_commanders_and_auditors_read_their_units_and_site_wide_changes(world, spread, who):
    expected = {record.pk for record in spread["a"]} | {spread["site"].pk}
    assert set(api_ids(getattr(world, who))) == expected
    assert set(api_ids(spread["root"])) == expected | {spread["b"].pk}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["bob", "alice", "frank", "rita"])
def test_other_roles_are_refused(client, world, spread, who):
    account = getattr(world, who)
    client.force_login(account)
    assert client.get(reverse("changes")).status_code == 403
    api = APIClient()
    api.force_authenticate(account)
    response = api.get("/api/v1/changes/")
    assert response.status_code == 403
    assert response.json()["code"] == "not_change_reader"


@pytest.mark.django_db
def test_another_units_record_is_not_found(world, spread):
    api = APIClient()
    api.force_authenticate(world.dave)
    assert api.get(f"/api/v1/changes/{spread['b'].pk}/").status_code == 404
    own = api.get(f"/api/v1/changes/{spread['a'][0].pk}/")
    assert own.status_code == 200
    assert own.json()["unit"] == "A" and own.json()["actor"] == "dave"


@pytest.mark.django_db
def test_the_page_lists_the_changes_with_their_diffs(client, world, spread):
    client.force_login(world.erin)
    response = client.get(reverse("changes"))
    assert response.status_code == 200
    page = response.content.decode()
    assert str(world.bob_member) in page and "suspended" in page
    assert "note-of-unit-b" not in page
    assert [record.pk for record in response.context["page_obj"]] == [
        record.pk for record in ChangeRecord.objects.exclude(unit=world.unit_b).order_by("-at", "-pk")
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("unit=A", lambda s: {r.pk for r in s["a"]}),
        ("unit=R", lambda s: {r.pk for r in s["a"]}),  # a unit and those below it
        ("unit=B", lambda s: set()),  # out of scope: nothing, not an error
        ("object_type=members.member", lambda s: {s["a"].get(object_type="members.member").pk}),
        ("object_type=training.course", lambda s: {s["site"].pk}),
        ("actor=root", lambda s: {s["site"].pk}),
        ("action=update", lambda s: {s["a"].get(action="update").pk}),
        ("member={no}", lambda s: {r.pk for r in s["a"]}),  # the member and their status change
        ("since={today}&until={today}", lambda s: {r.pk for r in s["a"]} | {s["site"].pk}),
        ("until={yesterday}", lambda s: set()),
    ],
)
def test_the_filters_narrow_the_web_list_and_the_api_alike(client, world, spread, query, expected):
    query = query.format(no=world.bob_member.member_no, today=TODAY(), yesterday=TODAY() - timedelta(days=1))
    assert set(api_ids(world.dave, f"?{query}")) == expected(spread)
    client.force_login(world.dave)
    response = client.get(f"{reverse('changes')}?{query}")
    assert {record.pk for record in response.context["page_obj"]} == expected(spread)


@pytest.mark.django_db
def test_a_bad_filter_answers_400(client, world, spread):
    client.force_login(world.dave)
    response = client.get(f"{reverse('changes')}?since=yesterday")
    assert response.status_code == 400
    assert not response.context["page_obj"].object_list  # not the unfiltered list
    assert b'data-testid="filter-errors"' in response.content
    api = APIClient()
    api.force_authenticate(world.dave)
    response = api.get("/api/v1/changes/?object_type=custody.ledgerevent")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_the_api_pages_with_a_cursor(world):
    for number in range(5):
        services.add_disciplinary_entry(
            member=world.bob_member, occurred_on=TODAY(), kind="warning", note=f"n{number}", actor=world.dave
        )
    api = APIClient()
    api.force_authenticate(world.erin)
    seen, url = [], "/api/v1/changes/?limit=2"
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == list(ChangeRecord.objects.order_by("-pk").values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_member_page_shows_the_record_history_to_its_readers_only(client, world, spread):
    page = reverse("member-page", args=[world.bob_member.member_no])
    client.force_login(world.dave)
    response = client.get(page)
    assert b'data-testid="member-history"' in response.content
    assert f"?member={world.bob_member.member_no}".encode() in response.content
    client.force_login(world.bob)
    assert b'data-testid="member-history"' not in client.get(page).content


# --- request ids ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_changes_of_one_request_share_its_id(world):
    def view(request):
        services.add_disciplinary_entry(
            member=world.bob_member, occurred_on=TODAY(), kind="warning", note="late", actor=world.dave
        )
        services.record_vetting(member=world.bob_member, vetted_on=TODAY(), outcome="failed", actor=world.dave)
        from django.http import HttpResponse

        return HttpResponse("ok")

    response = changelog.RequestIdMiddleware(view)(RequestFactory().post("/"))
    ids = set(ChangeRecord.objects.values_list("request_id", flat=True))
    assert ids == {response["X-Request-ID"]} and len(response["X-Request-ID"]) == 32
