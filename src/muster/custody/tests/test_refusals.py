"""Refusals of custody, each provoked the way a person would (the API, the CLI, the counter and ledger pages, or the
service where the faces refuse first), with its stable code asserted and the database unchanged."""

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import make_member
from muster.core.tests.test_refusals import call, refused_by_cli, unchanged
from muster.custody import checkpoints, handover, losses, lot_losses, lots, services
from muster.custody.models import Armory, ItemType, LedgerCheckpoint, LossCase
from muster.custody.testing import make_item, make_lot
from muster.members.models import Account, Member

pytestmark = pytest.mark.django_db

LOTS, CASES = "/api/v1/lots/", "/api/v1/loss-cases/"
LOT_NUMBER = "7N6-1987-041"


def api(account) -> APIClient:
    client = APIClient()
    client.force_authenticate(account)
    return client


def refused_by_api(account, url: str, body: dict, status: int, code: str) -> dict:
    with unchanged():
        response = api(account).post(url, body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    return response.json()


def disable(account: Account) -> Account:
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account.refresh_from_db()
    return account


@pytest.fixture
def rifle(world):
    """Issued to bob."""
    rifle = make_item(world.armory_a, world.alice, serial="AK-1")
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    return rifle


@pytest.fixture
def spare(world):
    """In ARM-A."""
    return make_item(world.armory_a, world.alice, serial="AK-2")


@pytest.fixture
def lot(world):
    return make_lot(world.armory_a, world.alice, quantity=1000, number=LOT_NUMBER)


def item_case(world, item) -> LossCase:
    return losses.open_case(
        item=item, kind="lost", circumstances="Left on the bus", occurred_at=timezone.now() - timedelta(hours=1),
        place="Bus 12", actor=world.alice,
    )  # fmt: skip


def lot_case(world, lot) -> LossCase:
    return lot_losses.report_loss(
        lot=lot, quantity=10, kind="lost", circumstances="A box fell off the truck",
        occurred_at=timezone.now() - timedelta(hours=1), place="Depot road", actor=world.alice, armory=world.armory_a,
    )  # fmt: skip


# --- a disabled account --------------------------------------------------------------------------------------------

CUSTODY_CHANGES = {
    "create_armory": lambda w, rifle, spare, lot: services.create_armory(
        code="ARM-X", name="Second arms room", unit=w.unit_a, actor=w.alice
    ),
    "create_item_type": lambda w, rifle, spare, lot: services.create_item_type(
        name="PKM machine gun", category="firearm", actor=w.alice
    ),
    "register_item": lambda w, rifle, spare, lot: services.register_item(
        item_type=rifle.item_type, serial_number="AK-9", home_armory=w.armory_a, actor=w.alice
    ),
    "issue": lambda w, rifle, spare, lot: services.issue(item=spare, member=w.bob_member, actor=w.alice),
    "return_item": lambda w, rifle, spare, lot: services.return_item(item=rifle, actor=w.alice),
    "transfer": lambda w, rifle, spare, lot: services.transfer(
        item=rifle, to_member=Member.objects.get(first_name="Relief"), actor=w.alice, giver=None, receiver=None
    ),
    "set_pin": lambda w, rifle, spare, lot: handover.set_pin(member=w.bob_member, pin="4711", actor=w.alice),
    "lot_receive": lambda w, rifle, spare, lot: lots.receive(
        item_type=lot.item_type, lot_number="7N6-1990-002", armory=w.armory_a, quantity=100, actor=w.alice
    ),
    "lot_issue": lambda w, rifle, spare, lot: lots.issue(lot=lot, member=w.bob_member, quantity=30, actor=w.alice),
    "lot_report_loss": lambda w, rifle, spare, lot: lot_losses.report_loss(
        lot=lot,
        quantity=5,
        kind="lost",
        circumstances="Gone",
        occurred_at=timezone.now(),
        place="Store",
        actor=w.alice,
        armory=w.armory_a,
    ),
}


@pytest.mark.parametrize("change", sorted(CUSTODY_CHANGES))
def test_a_disabled_armorer_changes_nothing(world, rifle, spare, lot, change):
    disable(world.alice)
    make_member(world.unit_a, first_name="Relief")  # the transfer's receiver, made before the snapshot
    with unchanged(), pytest.raises(NotPermitted) as refusal:
        CUSTODY_CHANGES[change](world, rifle, spare, lot)
    assert refusal.value.code == "account_disabled"


LOSS_CHANGES = {
    "open_case": lambda w, case, spare: losses.open_case(
        item=spare,
        kind="stolen",
        circumstances="Taken from the rack",
        occurred_at=timezone.now(),
        place="ARM-A",
        actor=w.alice,
    ),
    "recover": lambda w, case, spare: losses.recover(case=case, armory=w.armory_a, actor=w.alice, notes="Found"),
    "record_report_to_authorities": lambda w, case, spare: losses.record_report_to_authorities(
        case=case, police_report_no="PR-1", actor=w.alice
    ),
}


@pytest.mark.parametrize("change", sorted(LOSS_CHANGES))
def test_a_disabled_armorer_handles_no_loss_case(world, rifle, spare, change):
    case = item_case(world, rifle)
    disable(world.alice)
    with unchanged():
        with pytest.raises(NotPermitted) as refusal:
            LOSS_CHANGES[change](world, case, spare)
        assert refusal.value.code == "account_disabled"


# --- reference data: armories and item types -----------------------------------------------------------------------


def test_it_refuses_an_armory_code_that_is_taken(world, tmp_path):
    with unchanged(), pytest.raises(Refused) as refusal:
        services.create_armory(code="ARM-B", name="Another", unit=world.unit_a, actor=world.alice)
    assert (refusal.value.code, refusal.value.detail) == (
        "armory_code_taken",
        "An armory with code 'ARM-B' already exists.",
    )
    # `muster import armories` checks codes itself, with a row error naming the column.
    path = tmp_path / "armories.csv"
    path.write_text("code,name,unit_code,address\nARM-B,Another,A,\n")
    with unchanged():
        code, output = call("import", "armories", path, "--as", "alice")
    assert code == 1 and "line 2, column code: an armory with code 'ARM-B' already exists" in output


def test_it_refuses_an_armory_to_someone_who_is_not_staff_of_the_unit(world, tmp_path):
    with unchanged(), pytest.raises(NotPermitted) as refusal:
        services.create_armory(code="ARM-X", name="Records room", unit=world.unit_a, actor=world.erin)
    assert refusal.value.code == "not_unit_staff"
    path = tmp_path / "armories.csv"
    path.write_text("code,name,unit_code,address\nARM-X,Records room,A,\n")
    with unchanged():
        code, output = call("import", "armories", path, "--as", "erin")
    # The import reports the service's refusal against the column its code names (ArmoryImporter.error_columns).
    assert code == 1
    assert "line 2, column unit_code: erin is not a commander or armorer of A; cannot create its armories." in output
    assert not Armory.objects.filter(code="ARM-X").exists()


def test_it_refuses_an_item_type_name_that_is_taken_or_an_unknown_category(world, rifle):
    with unchanged():
        with pytest.raises(Refused) as refusal:
            services.create_item_type(name=rifle.item_type.name, category="firearm", actor=world.alice)
        assert refusal.value.code == "item_type_name_taken"
        with pytest.raises(Invalid) as refusal:
            services.create_item_type(name="Hovercraft", category="spaceship", actor=world.alice)
        assert refusal.value.code == "unknown_category"
    assert not ItemType.objects.filter(name="Hovercraft").exists()


def test_it_refuses_to_register_an_item_without_a_serial_number(world, rifle):
    # The item import requires the column itself (a row error); the service refuses for every other caller.
    with unchanged(), pytest.raises(Invalid) as refusal:
        services.register_item(item_type=rifle.item_type, serial_number="  \t", home_armory=world.armory_a,
                               actor=world.alice)  # fmt: skip
    assert refusal.value.code == "serial_empty"


# --- the command line: serial and member numbers, lots ---------------------------------------------------------------


def test_it_asks_for_the_serial_number(world, rifle):
    member_no = world.bob_member.member_no
    assert "Give the item's serial number." in refused_by_cli("serial_missing", 2, "issue", " ", member_no,
                                                              "--as", "alice")  # fmt: skip
    refused_by_cli("serial_missing", 2, "return", "", "--as", "alice")


def test_it_asks_for_the_member_number(world, spare, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    refused_by_cli("member_no_missing", 2, "issue", "AK-2", " ", "--as", "alice")
    refused_by_cli("member_no_missing", 2, "lot", "return", LOT_NUMBER, "", "10", "--as", "alice")


def test_it_asks_which_type_a_repeated_lot_number_is(world, lot):
    make_lot(world.armory_a, world.alice, quantity=500, number=LOT_NUMBER, name="9×18 mm ball")
    output = refused_by_cli("lot_number_ambiguous", 2, "lot", "status", LOT_NUMBER, "--as", "alice")
    assert "say which type" in output
    member_no = world.bob_member.member_no
    refused_by_cli("lot_number_ambiguous", 2, "lot", "issue", LOT_NUMBER, member_no, "30", "--as", "alice")


def test_it_refuses_to_settle_what_a_member_does_not_hold(world, lot):
    member_no = world.bob_member.member_no
    output = refused_by_cli("nothing_held", 3, "lot", "settle", LOT_NUMBER, member_no, "--as", "alice")
    assert f"holds none of {lot}" in output
    refused_by_api(world.alice, f"{LOTS}{lot.pk}/settle", {"member": member_no}, 409, "nothing_held")
    assert not LossCase.objects.exists()


def test_a_lot_expenditure_or_loss_names_exactly_one_holder(world, lot):
    occurred = (timezone.now() - timedelta(hours=1)).isoformat()
    expend = {"quantity": 5, "justification": "disposal", "reference": "D-17"}
    loss = {"quantity": 5, "kind": "lost", "circumstances": "Box missing", "occurred_at": occurred, "place": "Store"}
    both = {"member": world.bob_member.member_no, "armory": "ARM-A"}
    for body in (expend, {**expend, **both}):
        refused_by_api(world.alice, f"{LOTS}{lot.pk}/expend", body, 400, "holder_missing")
    for body in (loss, {**loss, **both}):
        refused_by_api(world.alice, f"{LOTS}{lot.pk}/loss", body, 400, "holder_missing")


# --- loss cases: item cases and lot cases ---------------------------------------------------------------------------


def test_it_asks_for_the_police_report_number(world, rifle):
    case = item_case(world, rifle)
    output = refused_by_cli("report_no_missing", 2, "loss", "report", case.pk, "--police-report", "  ", "--as", "alice")
    assert "Give the police (or authority) report number." in output
    case.refresh_from_db()
    assert (case.police_report_no, case.authorities_notified_at) == ("", None)


def test_it_recovers_a_lot_case_only_on_the_lot(world, lot):
    case = lot_case(world, lot)
    body = {"armory": "ARM-A", "notes": "Found by the road"}
    refused_by_api(world.alice, f"{CASES}{case.pk}/recover", body, 400, "not_an_item_case")
    refused_by_cli("not_an_item_case", 2, "loss", "recover", case.pk, "--armory", "ARM-A", "--notes", "Found",
                   "--as", "alice")  # fmt: skip
    case.refresh_from_db()
    assert case.is_open and case.recovered_quantity == 0


def test_it_recovers_an_item_case_only_on_the_item(world, rifle):
    case = item_case(world, rifle)
    with unchanged(), pytest.raises(Invalid) as refusal:
        lot_losses.recover(case=case, quantity=1, armory=world.armory_a, actor=world.alice, notes="Found")
    assert refusal.value.code == "not_a_lot_case"
    # The faces look the case up among lot cases only, so an item case is not found there.
    body = {"quantity": 1, "armory": "ARM-A", "notes": "Found"}
    refused_by_api(world.alice, f"{CASES}{case.pk}/recover-lot", body, 404, "loss_case_not_found")


# --- the counter ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("waiting", ["nothing", "member only", "item only"])
def test_the_counter_refuses_a_pin_when_nothing_waits_for_it(client, world, spare, waiting):
    client.force_login(world.alice)
    data = {
        "pin": "4711",
        "member": world.bob_member.member_no if waiting == "member only" else "",
        "item": spare.pk if waiting == "item only" else "",
    }
    with unchanged():
        response = client.post(reverse("counter-pin"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert [error.code for error in response.context["counter"].errors] == ["counter_nothing_waiting"]
    page = response.content.decode()
    assert "Nothing waits for a PIN: scan the badge and the item again." in page and "counter_nothing_waiting" in page


# --- the ledger's signed checkpoints --------------------------------------------------------------------------------


@pytest.fixture
def signing_key(tmp_path, settings):
    settings.MUSTER_LEDGER_KEY_FILE = str(tmp_path / "signing.key")
    checkpoints.generate_key()
    return checkpoints.public_key_hex(checkpoints.load_private_key().public_key())


@pytest.fixture
def checkpoint_file(world, rifle, signing_key, tmp_path):
    path = tmp_path / "checkpoint.json"
    checkpoints.write_file(checkpoints.make_checkpoint(), path)
    return path


def test_it_never_replaces_the_signing_key(world, signing_key, settings):
    key_file = settings.MUSTER_LEDGER_KEY_FILE
    before = Path(key_file).read_bytes()
    refused_by_cli("key_exists", 3, "ledger", "keygen")
    refused_by_cli("key_exists", 3, "ledger", "keygen", "--file", key_file)
    assert Path(key_file).read_bytes() == before


@pytest.mark.parametrize("content", ["not json {", '{"format": "something-else", "v": 1}', "[1, 2]", None])
def test_it_refuses_a_checkpoint_file_it_cannot_read(world, rifle, signing_key, tmp_path, content):
    path = tmp_path / "checkpoint.json"
    if content is not None:
        path.write_text(content)
    refused_by_cli("checkpoint_unreadable", 2, "ledger", "verify", "--checkpoint", path, "--progress", "never")


@pytest.mark.parametrize("given", ["not-hex", "ab" * 16, "file"])
def test_it_refuses_a_public_key_that_is_not_one(world, checkpoint_file, tmp_path, given):
    if given == "file":
        key = tmp_path / "public.txt"
        key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n")
        given = str(key)
    output = refused_by_cli("public_key_invalid", 2, "ledger", "verify", "--checkpoint", checkpoint_file,
                            "--public-key", given, "--progress", "never")  # fmt: skip
    assert "64 hexadecimal digits" in output


@pytest.fixture
def ec_key(tmp_path, settings):
    """A private key, but an ECDSA one: checkpoints are signed with Ed25519 only."""
    path = tmp_path / "signing.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.MUSTER_LEDGER_KEY_FILE = str(path)
    return path


def test_it_refuses_a_signing_key_of_the_wrong_type(world, rifle, ec_key, client):
    refused_by_cli("wrong_key_type", 2, "ledger", "public-key")
    refused_by_cli("wrong_key_type", 2, "ledger", "checkpoint")
    client.force_login(world.dave)
    with unchanged():
        response = client.get(reverse("ledger-public-key"))
    assert response.status_code == 400
    assert response.content.decode() == f"{ec_key} does not hold an Ed25519 private key. (wrong_key_type)"
    assert not LedgerCheckpoint.objects.exists()


def test_it_refuses_a_signing_key_file_that_holds_no_key(world, tmp_path, settings):
    path = tmp_path / "signing.key"
    path.write_text("this is not a key\n")
    settings.MUSTER_LEDGER_KEY_FILE = str(path)
    refused_by_cli("wrong_key_type", 2, "ledger", "public-key")


@pytest.mark.parametrize("who", ["alice", "bob", "frank"])
def test_only_commanders_and_auditors_read_or_sign_checkpoints(world, signing_key, client, who):
    account = getattr(world, who)
    with unchanged(), pytest.raises(NotPermitted) as refusal:
        checkpoints.make_checkpoint_for(actor=account)
    assert refusal.value.code == "not_ledger_reader"
    client.force_login(account)
    with unchanged():
        page = client.get(reverse("ledger-integrity"))
        signed = client.post(reverse("ledger-integrity"))
    assert (page.status_code, signed.status_code) == (403, 403)
    assert "Ledger checkpoints are for commanders and auditors." in signed.content.decode()
    assert not LedgerCheckpoint.objects.exists()
