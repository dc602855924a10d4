"""Two-factor sign-in: a commander resets another account's authenticator (web, CLI, the member page), under the
same rules everywhere: the commander of every unit the account serves, or a superuser; never one's own."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from muster.core import otp
from muster.core.errors import NotPermitted
from muster.core.models import AuditEvent
from muster.core.testing import PASSWORD, make_account
from muster.core.tests.test_totp import enrolled, verified_client
from muster.members.models import Account, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _totp_required(settings):
    settings.MUSTER_REQUIRE_TOTP = True


def test_a_commander_resets_an_account_of_their_unit(world):
    alice = verified_client(world.alice)
    assert alice.get("/").status_code == 200
    dave = verified_client(world.dave)
    page = dave.get("/accounts/alice/two-factor/")
    assert page.status_code == 200 and page.context["device"]["enrolled"] and page.context["may_reset"]
    response = dave.post("/accounts/alice/two-factor/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=world.alice).exists()
    event = AuditEvent.objects.get(kind=otp.Kind.RESET)
    assert event.account == world.dave and "alice" in event.detail
    # Alice's session loses its second factor at once and must set up a new authenticator.
    assert alice.get("/")["Location"].startswith("/two-factor/set-up/")


@pytest.mark.parametrize("username", ["bob", "alice", "frank", "erin"])
def test_only_commanders_may_reset(world, username):
    target = world.frank if username == "alice" else world.alice
    device = enrolled(target)
    client = verified_client(getattr(world, username))
    assert client.get(f"/accounts/{target.username}/two-factor/").status_code == 403
    assert client.post(f"/accounts/{target.username}/two-factor/").status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_an_account_of_another_unit_is_not_found(world):
    device = enrolled(world.carol)
    dave = verified_client(world.dave)
    assert dave.get("/accounts/carol/two-factor/").status_code == 404
    assert dave.post("/accounts/carol/two-factor/").status_code == 404
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_commander_must_command_every_unit_the_account_serves(world):
    both = make_account("ann", roles=[(Role.ARMORER, world.unit_a), (Role.ARMORER, world.unit_b)])
    device = enrolled(both)
    dave = verified_client(world.dave)
    response = dave.post("/accounts/ann/two-factor/")
    assert response.status_code == 403 and "not_commander" in response.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    root = Account.objects.create_superuser(username="root", password=PASSWORD)
    assert otp.reset_device(account=both, actor=root) == 1


def test_nobody_but_a_superuser_resets_their_own(world):
    enrolled(world.dave)
    with pytest.raises(NotPermitted) as refused:
        otp.reset_device(account=world.dave, actor=world.dave)
    assert refused.value.code == "reset_own_totp"
    assert TOTPDevice.objects.filter(user=world.dave).exists()


def test_the_cli_resets_with_the_same_rules(world, capsys):
    enrolled(world.alice)
    enrolled(world.carol)
    call_command("totp", "reset", "alice", "--as", "dave")
    assert "reset two-factor sign-in of alice" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=world.alice).exists()
    assert AuditEvent.objects.filter(kind=otp.Kind.RESET, account=world.dave).count() == 1
    with pytest.raises(CommandError) as other_unit:
        call_command("totp", "reset", "carol", "--as", "dave")
    assert other_unit.value.returncode == 5
    with pytest.raises(CommandError) as not_commander:
        call_command("totp", "reset", "carol", "--as", "erin")
    assert not_commander.value.returncode == 4
    with pytest.raises(CommandError) as nothing_to_reset:
        call_command("totp", "reset", "alice", "--as", "dave")
    assert nothing_to_reset.value.returncode == 3
    assert TOTPDevice.objects.filter(user=world.carol).exists()


def test_the_member_page_offers_set_up_to_the_member_and_reset_to_the_commander(world):
    bob = Client()
    bob.force_login(world.bob)
    page = bob.get(f"/members/{world.bob_member.member_no}/").content.decode()
    assert 'href="/two-factor/set-up/"' in page
    dave = verified_client(world.dave)
    page = dave.get(f"/members/{world.alice.member.member_no}/").content.decode()
    assert 'href="/accounts/alice/two-factor/"' in page
