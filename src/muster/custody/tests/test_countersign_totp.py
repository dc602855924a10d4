"""A commander's countersign is as strong as their sign-in (ASVS 6.3.4): a commander who signs in with a TOTP code
gives it with the password when countersigning an override, on the web form and in the API; a missing, wrong or
reused code changes nothing, and `countersigned` is recorded only when both factors are right."""

import pytest
from rest_framework.test import APIClient

from muster.core.models import AuditEvent
from muster.core.testing import PASSWORD
from muster.core.tests.test_totp import code_for, enrolled, verified_client, wrong_code
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.training.testing import make_qualification

pytestmark = pytest.mark.django_db

ISSUE = "/api/v1/custody/issue"
REASON = "Range day, refresher on Monday."


@pytest.fixture(autouse=True)
def _totp_required(settings):
    settings.MUSTER_REQUIRE_TOTP = True


@pytest.fixture
def rifle(world):
    """An item of a type that needs a qualification bob lacks: an issue to him needs a commander's override."""
    item_type = make_item_type("AK-74M assault rifle")
    item_type.required_qualifications.set([make_qualification("rifle-ak")])
    return make_item(world.armory_a, world.alice, item_type=item_type, serial="A-1")


@pytest.fixture
def dave_device(world):
    return enrolled(world.dave)


def api_issue(world, item, **override):
    api = APIClient()
    api.force_authenticate(world.alice)
    override = {"commander": "dave", "commander_password": PASSWORD, "reason": REASON, **override}
    body = {"item": item.pk, "member": world.bob_member.member_no, "override": override}
    return api.post(ISSUE, body, format="json")


def unchanged(item) -> bool:
    return (
        Item.objects.get(pk=item.pk).holder_kind == HolderKind.ARMORY
        and not LedgerEvent.objects.filter(item=item, kind="issue").exists()
    )


def test_the_api_asks_for_the_commanders_code_and_changes_nothing_without_it(world, rifle, dave_device):
    response = api_issue(world, rifle)
    assert (response.status_code, response.json()["code"]) == (400, "countersign_otp_required")
    assert unchanged(rifle)
    assert not AuditEvent.objects.filter(kind="countersigned").exists()


def test_a_wrong_code_is_refused_recorded_and_changes_nothing(world, rifle, dave_device):
    response = api_issue(world, rifle, commander_otp=wrong_code(dave_device))
    assert (response.status_code, response.json()["code"]) == (400, "otp_invalid")
    assert unchanged(rifle)
    assert list(AuditEvent.objects.filter(account=world.dave).values_list("kind", "detail")) == [
        ("otp_failed", "countersign: wrong code (1 in a row)")
    ]


def test_the_right_code_countersigns_once_and_cannot_be_used_again(world, rifle, dave_device):
    code = code_for(dave_device)
    response = api_issue(world, rifle, commander_otp=code)
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=rifle, kind="issue")
    assert event.data["override"]["commander"] == world.dave.pk
    assert AuditEvent.objects.filter(kind="countersigned", account=world.dave).count() == 1
    second = make_item(world.armory_a, world.alice, item_type=rifle.item_type, serial="A-2")
    again = api_issue(world, second, commander_otp=code)
    assert (again.status_code, again.json()["code"]) == (400, "otp_invalid")
    assert unchanged(second)
    assert AuditEvent.objects.filter(kind="countersigned").count() == 1


def test_a_wrong_password_is_refused_before_any_code_is_looked_at(world, rifle, dave_device):
    response = api_issue(world, rifle, commander_password="not-the-password", commander_otp=code_for(dave_device))
    assert (response.status_code, response.json()["code"]) == (403, "countersign_failed")
    assert unchanged(rifle)
    assert not AuditEvent.objects.filter(account=world.dave, kind__in=["otp_verified", "otp_failed"]).exists()


def test_a_commander_who_must_use_a_code_but_never_set_one_up_cannot_countersign(world, rifle):
    response = api_issue(world, rifle, commander_otp="123456")
    assert (response.status_code, response.json()["code"]) == (409, "otp_not_enrolled")
    assert unchanged(rifle)


def _form(world, **override) -> dict:
    return {"serial": "A-1", "member_no": world.bob_member.member_no, "override_commander": "dave",
            "override_password": PASSWORD, "override_reason": REASON, **override}  # fmt: skip


def test_the_counter_form_asks_for_the_code_and_keeps_the_countersign_open(world, rifle, dave_device):
    client = verified_client(world.alice)
    response = client.post("/custody/issue/", _form(world))
    assert response.status_code == 400
    page = response.content.decode()
    assert "dave signs in with a TOTP code: the countersign needs it too." in page
    assert 'name="override_otp"' in page  # the override fields stay on the page for the retry
    assert unchanged(rifle)
    response = client.post("/custody/issue/", _form(world, override_otp=code_for(dave_device)))
    assert response.status_code in (200, 302), response.content
    assert Item.objects.get(pk=rifle.pk).holder_member == world.bob_member
    assert AuditEvent.objects.filter(kind="countersigned", account=world.dave).count() == 1


def test_without_two_factor_sign_in_the_password_alone_countersigns(world, rifle, settings):
    settings.MUSTER_REQUIRE_TOTP = False  # dave has no authenticator: he signs in with his password alone
    response = api_issue(world, rifle)
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.filter(kind="countersigned", account=world.dave).count() == 1
