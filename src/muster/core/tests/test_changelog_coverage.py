"""Every public service of members.services and training.services that writes a row logs it in the change log.

The table below runs each service once; the SQL it sends is captured, and every table of the roster and training
apps it inserts into, updates or deletes from must have a change record of that model written by the same call.
A meta-test fails when a public function is neither in the table nor named as one that writes nothing.
"""

import inspect
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from muster.core.changelog import LOGGED_TYPES
from muster.core.models import ChangeRecord
from muster.core.testing import make_member
from muster.members import services as members
from muster.members.models import Member, Role, Vetting
from muster.training import services as training
from muster.training.models import Trainee, TrainingSession
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db

WATCHED_APPS = {"members", "training", "authtoken"}
# A token's primary key is its secret, so issuing one is logged on the account.
LOGGED_AS = {"authtoken.token": "members.account"}
WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


def _session(world, *, started: bool, enrolled=()) -> TrainingSession:
    course = make_course(f"cov-{TrainingSession.objects.count()}", grants=[make_qualification("cov-rifle")])
    starts_at = timezone.now() + (timedelta(hours=-2) if started else timedelta(days=3))
    session = TrainingSession.objects.create(course=course, unit=world.unit_a, starts_at=starts_at, place="Range")
    for member in enrolled:
        Trainee.objects.create(session=session, member=member)
    return session


def _person(number: str) -> dict:
    return {"member_no": number, "first_name": "New", "last_name": "Person", "unit": None}


def _create_members(world):
    people = [_person("COV-1"), _person("COV-2")]
    for person in people:
        person["unit"] = world.unit_a
    return {"members": people, "actor": world.dave}


def _issue_token(world):
    Token.objects.create(user=world.dave)  # so that rotating deletes one and creates another
    return {"account": world.dave, "actor": world.dave, "rotate": True}


TODAY = timezone.localdate

# function name → kwargs factory (world → kwargs)
WRITERS = {
    members.create_unit: lambda w: {"code": "COV", "name": "Covered", "parent": w.unit_a, "actor": w.dave},
    members.create_member: lambda w: {**_person("COV-9"), "unit": w.unit_a, "actor": w.dave},
    members.create_members: _create_members,
    members.create_account: lambda w: {
        "username": "covered",
        "role": Role.MEMBER,
        "unit": w.unit_a,
        "actor": w.dave,
        "password": "a-long-unusual-passphrase-81",
        "member": make_member(w.unit_a),
    },
    members.grant_role: lambda w: {"account": w.frank, "role": Role.AUDITOR, "unit": w.unit_a, "actor": w.dave},
    members.issue_token: _issue_token,
    members.change_status: lambda w: {
        "member": w.bob_member,
        "to_status": Member.Status.SUSPENDED,
        "reason": "coverage",
        "actor": w.dave,
    },
    members.record_vetting: lambda w: {
        "member": w.bob_member,
        "vetted_on": TODAY(),
        "outcome": Vetting.Outcome.PASSED,
        "valid_until": TODAY() + timedelta(days=400),
        "actor": w.dave,
    },
    members.add_disciplinary_entry: lambda w: {
        "member": w.bob_member,
        "occurred_on": TODAY(),
        "kind": "warning",
        "note": "late",
        "actor": w.dave,
    },
    training.schedule_session: lambda w: {
        "course": make_course("cov-new", grants=[]),
        "unit": w.unit_a,
        "starts_at": timezone.now(),
        "place": "Range",
        "actor": w.dave,
    },
    training.enroll: lambda w: {"session": _session(w, started=False), "members": [w.bob_member], "actor": w.dave},
    training.record_results: lambda w: {
        "session": _session(w, started=True, enrolled=[w.bob_member]),
        "results": [training.Result(member=w.bob_member, attended=True, passed=True)],
        "actor": w.dave,
    },
    training.record_prior_service: lambda w: {
        "member": w.bob_member,
        "qualification": make_qualification("cov-prior"),
        "granted_on": TODAY() - timedelta(days=10),
        "expires_on": TODAY() + timedelta(days=300),
        "evidence": "discharge papers",
        "actor": w.dave,
    },
    training.cancel_session: lambda w: {"session": _session(w, started=False), "actor": w.dave, "reason": "rain"},
}

# Public functions that write nothing, and why.
READ_ONLY = {
    training.can_record: "a permission check",
    training.validity_days: "arithmetic on a course and a qualification",
}


def public_functions(module) -> set:
    return {
        function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    }


def test_every_public_service_is_in_the_table():
    services = public_functions(members) | public_functions(training)
    unlisted = sorted(function.__qualname__ for function in services - WRITERS.keys() - READ_ONLY.keys())
    assert not unlisted, f"Add these services to WRITERS (or READ_ONLY, saying why): {unlisted}"
    assert WRITERS.keys() <= services, "WRITERS names a function that is no longer public"


def _written_models(queries) -> set[str]:
    models = [model for model in apps.get_models(include_auto_created=True) if not model._meta.proxy]
    tables = {model._meta.db_table: model._meta.label_lower for model in models}
    written = set()
    for query in queries:
        match = WRITE.match(query["sql"])
        label = tables.get(match.group(1)) if match else None
        if label and label.split(".")[0] in WATCHED_APPS:
            written.add(LOGGED_AS.get(label, label))
    return written


@pytest.mark.parametrize("function", list(WRITERS), ids=lambda function: function.__name__)
def test_each_writing_service_logs_every_model_it_writes(world, function):
    kwargs = WRITERS[function](world)
    first = ChangeRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with CaptureQueriesContext(connection) as captured:
        function(**kwargs)
    written = _written_models(captured.captured_queries)
    records = ChangeRecord.objects.filter(pk__gt=first)
    logged = set(records.values_list("object_type", flat=True))
    assert written, f"{function.__name__} wrote nothing; is it in the right table?"
    assert written <= logged, f"{function.__name__} wrote {sorted(written - logged)} without a change record"
    assert logged <= set(LOGGED_TYPES), f"add {sorted(logged - set(LOGGED_TYPES))} to changelog.LOGGED_TYPES"
    assert all(record.actor_id == world.dave.pk for record in records)
