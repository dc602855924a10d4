"""Two-person handover: PINs, their lockout and log, confirmed issues, and member-to-member transfers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.auth import Reauthentication
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import make_member
from muster.custody import handover, ledger, services
from muster.custody.models import HandoverAttempt, HandoverPin, LedgerEvent
from muster.custody.testing import make_item
from muster.members.models import Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def pins(world, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4711", actor=world.alice)
    handover.set_pin(member=world.alice.member, pin="8302", actor=world.alice)
    return {"bob": "4711", "alice": "8302"}


def test_a_pin_is_stored_hashed_and_checked(world, pins):
    record = HandoverPin.objects.get(member=world.bob_member)
    assert "4711" not in record.pin_hash
    confirmation = handover.confirm(member=world.bob_member, pin="4711", actor=world.alice, purpose="issue")
    assert confirmation.member_id == world.bob_member.pk
    assert HandoverAttempt.objects.get().succeeded


@pytest.mark.parametrize(
    ("pin", "code"),
    [("12", "pin_format"), ("12a4", "pin_format"), ("1111", "pin_weak"), ("1234", "pin_weak"), ("9876", "pin_weak")],
)
def test_weak_or_malformed_pins_are_refused(world, pin, code):
    with pytest.raises(Invalid) as refusal:
        handover.set_pin(member=world.bob_member, pin=pin, actor=world.alice)
    assert refusal.value.code == code
    assert not HandoverPin.objects.exists()


def test_only_the_member_or_their_armorer_or_commander_sets_a_pin(world):
    for who in (world.erin, world.frank, world.carol):
        with pytest.raises(NotPermitted):
            handover.set_pin(member=world.bob_member, pin="4711", actor=who)
    handover.set_pin(member=world.bob_member, pin="4711", actor=world.bob)
    handover.set_pin(member=world.bob_member, pin="5822", actor=world.dave)


# --- a member's own PIN needs proof that it is them (ASVS 7.5.1, G12) ----------------------------------------------


def password_proof(account, *, purpose=handover.OWNER_PROOF_PURPOSE, at=None):
    """What core.auth.reauthenticate hands a face once the account typed its password again."""
    at = at or timezone.now()
    return Reauthentication(account.pk, purpose, at, Reauthentication.sign(account.pk, purpose, at))


def test_a_member_setting_their_own_pin_must_prove_it_is_them(world, pins):
    old = HandoverPin.objects.get(member=world.bob_member).pin_hash
    stale = timezone.now() - timedelta(minutes=6)
    forged = Reauthentication(world.bob.pk, handover.OWNER_PROOF_PURPOSE, timezone.now(), "0" * 64)
    for proof, code in [
        (None, "owner_proof_required"),
        (password_proof(world.alice), "owner_proof_required"),  # another account's password
        (password_proof(world.bob, purpose="password change"), "owner_proof_required"),  # typed for something else
        (password_proof(world.bob, at=stale), "owner_proof_required"),  # more than five minutes ago
        (forged, "owner_proof_required"),
    ]:
        with pytest.raises(Invalid) as refusal:
            handover.set_pin(member=world.bob_member, pin="6048", actor=world.bob, proof=proof)
        assert refusal.value.code == code
    alices = handover.confirm(member=world.alice.member, pin="8302", actor=world.alice, purpose="pin change")
    with pytest.raises(Refused) as refusal:  # the current PIN of another member
        handover.set_pin(member=world.bob_member, pin="6048", actor=world.bob, proof=alices)
    assert refusal.value.code == "confirmation_wrong_member"
    assert HandoverPin.objects.get(member=world.bob_member).pin_hash == old

    handover.set_pin(member=world.bob_member, pin="6048", actor=world.bob, proof=password_proof(world.bob))
    current = handover.confirm(member=world.bob_member, pin="6048", actor=world.bob, purpose="pin change")
    handover.set_pin(member=world.bob_member, pin="5927", actor=world.bob, proof=current)
    assert handover.confirm(member=world.bob_member, pin="5927", actor=world.alice, purpose="issue")


def test_staff_setting_another_members_pin_need_no_proof(world, pins):
    handover.set_pin(member=world.bob_member, pin="6048", actor=world.alice, proof=None)
    assert HandoverPin.objects.get(member=world.bob_member).set_by == world.alice


def test_wrong_pins_are_logged_and_lock_after_five(world, pins):
    for left in (4, 3, 2, 1):
        with pytest.raises(Refused) as refusal:
            handover.confirm(member=world.bob_member, pin="0000", actor=world.alice, purpose="issue")
        assert refusal.value.code == "pin_wrong" and f"{left} more" in refusal.value.detail
    with pytest.raises(Refused) as refusal:
        handover.confirm(member=world.bob_member, pin="0000", actor=world.alice, purpose="issue")
    assert "locked" in refusal.value.detail
    with pytest.raises(Refused) as refusal:  # even the right PIN, while locked
        handover.confirm(member=world.bob_member, pin="4711", actor=world.alice, purpose="issue")
    assert refusal.value.code == "pin_locked"
    assert HandoverAttempt.objects.filter(succeeded=False).count() == 5
    assert HandoverPin.objects.get(member=world.bob_member).locked_until > timezone.now()


def test_an_issue_needs_the_receivers_confirmation_and_records_it(world, pins):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "receiver_confirmation_required"
    confirmation = handover.confirm(member=world.bob_member, pin="4711", actor=world.alice, purpose="issue")
    event = services.issue(item=item, member=world.bob_member, actor=world.alice, receiver=confirmation)
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}
    assert ledger.verify().ok


def test_a_confirmation_is_for_one_member_fresh_and_genuine(world, pins):
    item = make_item(world.armory_a, world.alice)
    alices = handover.confirm(member=world.alice.member, pin="8302", actor=world.alice, purpose="issue")
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice, receiver=alices)
    assert refusal.value.code == "confirmation_wrong_member"
    bobs = handover.confirm(member=world.bob_member, pin="4711", actor=world.alice, purpose="issue")
    stale = handover.Confirmation(
        bobs.member_id,
        "pin",
        bobs.confirmed_at - timedelta(minutes=6),
        handover.Confirmation.sign(bobs.member_id, "pin", bobs.confirmed_at - timedelta(minutes=6)),
    )
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice, receiver=stale)
    assert refusal.value.code == "confirmation_expired"
    forged = handover.Confirmation(world.bob_member.pk, "pin", timezone.now(), "0" * 64)
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice, receiver=forged)
    assert refusal.value.code == "confirmation_invalid"
    assert not LedgerEvent.objects.filter(kind="issue").exists()


@pytest.fixture
def issued_to_bob(world, pins):
    item = make_item(world.armory_a, world.alice)
    receiver = handover.confirm(member=world.bob_member, pin="4711", actor=world.alice, purpose="issue")
    services.issue(item=item, member=world.bob_member, actor=world.alice, receiver=receiver)
    return item


def both(world, giver_pin="4711", receiver_pin="8302"):
    giver = handover.confirm(member=world.bob_member, pin=giver_pin, actor=world.bob, purpose="transfer")
    receiver = handover.confirm(member=world.alice.member, pin=receiver_pin, actor=world.bob, purpose="transfer")
    return {"giver": giver, "receiver": receiver}


def test_a_transfer_between_members_records_both_parties(world, issued_to_bob):
    event = services.transfer(item=issued_to_bob, to_member=world.alice.member, actor=world.bob, **both(world))
    issued_to_bob.refresh_from_db()
    assert issued_to_bob.holder_member == world.alice.member
    assert (event.kind, event.from_member_id, event.to_member_id) == (
        "transfer",
        world.bob_member.pk,
        world.alice.member.pk,
    )
    assert event.data["giver_confirmed"]["member"] == world.bob_member.pk
    assert event.data["receiver_confirmed"]["member"] == world.alice.member.pk
    assert ledger.verify().ok


def test_a_transfer_needs_both_confirmations_from_the_right_people(world, issued_to_bob):
    confirmations = both(world)
    with pytest.raises(Refused) as refusal:
        services.transfer(
            item=issued_to_bob,
            to_member=world.alice.member,
            actor=world.bob,
            giver=confirmations["receiver"],
            receiver=confirmations["receiver"],
        )
    assert refusal.value.code == "confirmation_wrong_member"
    issued_to_bob.refresh_from_db()
    assert issued_to_bob.holder_member == world.bob_member


def test_the_receiver_of_a_transfer_must_pass_the_gate(world, issued_to_bob):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    handover.set_pin(member=suspended, pin="5566", actor=world.alice)
    giver = handover.confirm(member=world.bob_member, pin="4711", actor=world.bob, purpose="transfer")
    receiver = handover.confirm(member=suspended, pin="5566", actor=world.bob, purpose="transfer")
    with pytest.raises(Refused) as refusal:
        services.transfer(item=issued_to_bob, to_member=suspended, actor=world.bob, giver=giver, receiver=receiver)
    assert refusal.value.code == "member_not_active"


def test_only_the_giver_an_armorer_or_a_duty_officer_records_a_transfer(world, issued_to_bob):
    for who in (world.erin, world.carol):
        with pytest.raises(NotPermitted):
            services.transfer(item=issued_to_bob, to_member=world.alice.member, actor=who, **both(world))
    services.transfer(item=issued_to_bob, to_member=world.alice.member, actor=world.frank, **both(world))


def test_items_in_the_armory_are_issued_not_transferred(world, pins):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(Refused) as refusal:
        services.transfer(item=item, to_member=world.alice.member, actor=world.alice, **both(world))
    assert refusal.value.code == "item_not_issued"
