"""An armorer never issues to their own member record: one person would stand on both sides of the handover.

Refused on every face with 403 self_issue, before the gate and any PIN, and a commander cannot override it.
"""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.errors import NotPermitted
from muster.core.models import AuditEvent
from muster.core.testing import make_account
from muster.custody import handover, services
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item
from muster.members.models import Member, Role

pytestmark = pytest.mark.django_db

MESSAGE = "An armorer cannot issue to themselves; another armorer must hand it over."


def custody_state() -> tuple:
    return (
        LedgerEvent.objects.count(),
        list(Item.objects.order_by("pk").values_list("pk", "holder_kind", "holder_armory_id", "holder_member_id")),
    )


@pytest.fixture
def rifle(world):
    return make_item(world.armory_a, world.alice, serial="AK-SELF")


def test_the_service_refuses_and_writes_nothing(world, rifle):
    before = custody_state()
    with pytest.raises(NotPermitted) as refusal:
        services.issue(item=rifle, member=world.alice.member, actor=world.alice)
    assert (refusal.value.code, refusal.value.detail) == ("self_issue", MESSAGE)
    assert custody_state() == before
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_armory) == (HolderKind.ARMORY, world.armory_a)
    assert not LedgerEvent.objects.filter(kind="issue").exists()


def test_it_is_refused_before_the_gate(world, rifle):
    """Even where the gate would refuse too (an applicant), the answer is self_issue."""
    Member.objects.filter(pk=world.alice.member_id).update(status=Member.Status.APPLICANT)
    with pytest.raises(NotPermitted) as refusal:
        services.issue(item=rifle, member=world.alice.member, actor=world.alice)
    assert refusal.value.code == "self_issue"


def test_it_is_refused_before_the_pin_is_checked(world, rifle, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True  # no confirmation given: would be receiver_confirmation_required
    with pytest.raises(NotPermitted) as refusal:
        services.issue(item=rifle, member=world.alice.member, actor=world.alice)
    assert refusal.value.code == "self_issue"


def test_a_commander_cannot_override_it(world, rifle):
    Member.objects.filter(pk=world.alice.member_id).update(vetting_valid_until=None)  # an overridable failure too
    before = custody_state()
    with pytest.raises(NotPermitted) as refusal:
        services.issue(
            item=rifle,
            member=world.alice.member,
            actor=world.alice,
            override=services.Override(commander=world.dave, reason="Short of hands at the range today"),
        )
    assert refusal.value.code == "self_issue"
    assert custody_state() == before


def test_another_armorer_may_issue_to_an_armorer(world, rifle):
    event = services.issue(item=rifle, member=world.alice.member, actor=world.rita)
    assert (event.to_member_id, event.actor_id) == (world.alice.member_id, world.rita.pk)


def test_an_account_without_a_member_record_issues_as_before(world, rifle):
    clerk = make_account("clerk", roles=[(Role.ARMORER, world.unit_a)])
    services.issue(item=rifle, member=world.bob_member, actor=clerk)
    rifle.refresh_from_db()
    assert rifle.holder_member == world.bob_member


def test_the_api_answers_403_self_issue(world, rifle):
    client = APIClient()
    client.force_authenticate(world.alice)
    before = custody_state()
    response = client.post(
        "/api/v1/custody/issue", {"item": rifle.pk, "member": world.alice.member.member_no}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"code": "self_issue", "detail": MESSAGE}
    assert custody_state() == before


def test_the_web_form_shows_the_refusal(client, world, rifle):
    client.force_login(world.alice)
    before = custody_state()
    due = (timezone.localtime() + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("custody-issue"), {"serial": "AK-SELF", "member_no": world.alice.member.member_no, "due_at": due}
    )
    assert response.status_code == 403
    assert f"{MESSAGE} [self_issue]" in response.context["form"].non_field_errors()
    assert MESSAGE in response.content.decode()
    assert not response.context["show_override"]  # nothing for a commander to countersign
    assert custody_state() == before
    # The refusal shown on the page is in the audit trail like a raised one (ASVS 16.3.2).
    refused = AuditEvent.objects.get(kind="refused")
    recorded = (refused.account, refused.path, refused.detail.split(":")[0])
    assert recorded == (world.alice, "/custody/issue/", "self_issue")


def test_the_cli_exits_with_the_not_permitted_code(world, rifle):
    before = custody_state()
    with pytest.raises(CommandError) as failure:
        call_command(
            "issue",
            "AK-SELF",
            world.alice.member.member_no,
            "--as",
            "alice",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert failure.value.returncode == NotPermitted.exit_code == 4
    assert "self_issue" in str(failure.value)
    assert custody_state() == before


def test_a_typed_pin_is_refused_with_self_issue_too(world, rifle, settings):
    """Through the API with the armorer's own PIN: still self_issue, and the item stays in the armory."""
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.alice.member, pin="8302", actor=world.alice)
    client = APIClient()
    client.force_authenticate(world.alice)
    response = client.post(
        "/api/v1/custody/issue",
        {"item": rifle.pk, "member": world.alice.member.member_no, "pin": "8302"},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (403, "self_issue")
    rifle.refresh_from_db()
    assert rifle.holder_kind == HolderKind.ARMORY
