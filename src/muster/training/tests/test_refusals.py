"""Refusals of training (training.services), each with its stable code, and nothing written.

The web forms, the API serializers and the training import refuse a blank place or evidence themselves (a required
field, code "invalid" or a row error) and no disabled account signs in, so these codes are provoked on the service:
what the faces, the demo and the seed call.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted
from muster.core.tests.test_refusals import unchanged
from muster.members.models import Account
from muster.training import services
from muster.training.models import MemberQualification, TrainingSession
from muster.training.testing import make_course, make_qualification, today

pytestmark = pytest.mark.django_db


@pytest.fixture
def course(world):
    return make_course("basic-rifle", grants=[make_qualification("rifle-ak", validity_days=365)])


@pytest.fixture
def session(world, course):
    """A session of unit A that started two hours ago, taught by alice, with bob on its roster."""
    session = services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() - timedelta(hours=2), place="Range 2",
        instructor=world.alice.member, actor=world.dave,
    )  # fmt: skip
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    return session


def disable(account: Account) -> Account:
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account.refresh_from_db()
    return account


def test_it_refuses_a_session_without_a_place(world, course):
    with unchanged(), pytest.raises(Invalid) as refusal:
        services.schedule_session(
            course=course, unit=world.unit_a, starts_at=timezone.now() + timedelta(days=2), place="  \t",
            actor=world.dave,
        )  # fmt: skip
    assert refusal.value.code == "place_missing"
    assert not TrainingSession.objects.exists()


def test_it_refuses_prior_service_without_evidence(world):
    rifle = make_qualification("rifle-ak")
    with unchanged(), pytest.raises(Invalid) as refusal:
        services.record_prior_service(
            member=world.bob_member, qualification=rifle, granted_on=today() - timedelta(days=30),
            expires_on=today() + timedelta(days=300), evidence=" \n ", actor=world.dave,
        )  # fmt: skip
    assert refusal.value.code == "evidence_missing"
    assert not MemberQualification.objects.exists()


TRAINING_CHANGES = {
    "schedule_session": lambda world, course, session: services.schedule_session(
        course=course,
        unit=world.unit_a,
        starts_at=timezone.now() + timedelta(days=2),
        place="Range 1",
        actor=world.dave,
    ),
    "record_prior_service": lambda world, course, session: services.record_prior_service(
        member=world.bob_member,
        qualification=make_qualification("rifle-ak"),
        granted_on=today() - timedelta(days=9),
        expires_on=today() + timedelta(days=300),
        evidence="discharge papers",
        actor=world.dave,
    ),
    "cancel_session": lambda world, course, session: services.cancel_session(
        session=session, actor=world.dave, reason="range closed"
    ),
}


@pytest.mark.parametrize("change", sorted(TRAINING_CHANGES))
def test_a_disabled_commander_changes_nothing(world, course, session, change):
    disable(world.dave)
    with unchanged(), pytest.raises(NotPermitted) as refusal:
        TRAINING_CHANGES[change](world, course, session)
    assert refusal.value.code == "account_disabled"


@pytest.mark.parametrize("recorder", ["dave", "alice"])
def test_a_disabled_recorder_is_told_the_account_is_disabled(world, session, recorder):
    actor = disable(getattr(world, recorder))
    with unchanged():
        with pytest.raises(NotPermitted) as refusal:
            services.record_results(
                session=session, results=[services.Result(world.bob_member, attended=True, passed=True)], actor=actor
            )
        assert refusal.value.code == "account_disabled"
