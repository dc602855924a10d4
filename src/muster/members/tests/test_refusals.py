"""Refusals of the roster (members.services and `muster user`), each with its stable code, and nothing written.

Several of these codes guard the service against callers the faces never let through (a disabled account cannot
sign in; `muster user` offers only the known roles; the member import checks numbers itself): those are provoked on
the service, which is what the demo, the seed and every future face call.
"""

from datetime import date

import pytest

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import PASSWORD
from muster.core.tests.test_refusals import call, refused_by_cli, unchanged
from muster.members import services
from muster.members.models import Account, DisciplinaryEntry, Member, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("a-long-and-unusual-passphrase\n")
    return path


@pytest.fixture
def root(world):
    return Account.objects.create_superuser(username="root", password=PASSWORD)


def disable(account: Account) -> Account:
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account.refresh_from_db()
    return account


ROSTER_CHANGES = {
    "create_unit": lambda world: services.create_unit(
        code="A-1", name="Platoon 1", parent=world.unit_a, actor=world.dave
    ),
    "create_member": lambda world: services.create_member(
        member_no="N-1", first_name="Olena", last_name="Koval", unit=world.unit_a, actor=world.dave
    ),
    "create_account": lambda world: services.create_account(
        username="olena", role=Role.MEMBER, unit=world.unit_a, actor=world.dave, password="a-long-passphrase-9"
    ),
    "grant_role": lambda world: services.grant_role(
        account=world.erin, role=Role.DUTY_OFFICER, unit=world.unit_a, actor=world.dave
    ),
    "change_status": lambda world: services.change_status(
        member=world.bob_member, to_status=Member.Status.SUSPENDED, reason="absent", actor=world.dave
    ),
    "record_vetting": lambda world: services.record_vetting(
        member=world.bob_member, vetted_on=date(2026, 1, 5), outcome="failed", actor=world.dave
    ),
    "add_disciplinary_entry": lambda world: services.add_disciplinary_entry(
        member=world.bob_member, occurred_on=date(2026, 1, 5), kind="warning", note="late", actor=world.dave
    ),
    "issue_token": lambda world: services.issue_token(account=world.dave, actor=world.dave),
}


@pytest.mark.parametrize("change", sorted(ROSTER_CHANGES))
def test_a_disabled_commander_changes_nothing(world, change):
    disable(world.dave)
    with unchanged(), pytest.raises(NotPermitted) as refusal:
        ROSTER_CHANGES[change](world)
    assert refusal.value.code == "account_disabled"


def test_a_disabled_account_cannot_act_on_the_command_line(world, password_file):
    # The face refuses before the service: no session or token of a disabled account authenticates, and the CLI
    # will not act as one (exit 4, "not permitted").
    disable(world.dave)
    with unchanged():
        code, output = call("user", "grant", "erin", "--role", "duty_officer", "--unit", "A", "--as", "dave")
    assert code == 4 and "'dave' is disabled" in output


def test_it_refuses_a_token_for_a_disabled_account(world, root):
    disable(world.carol)
    output = refused_by_cli("account_disabled", 3, "user", "token", "carol", "--as", "root")
    assert "Account carol is disabled." in output


def test_it_does_not_find_an_unknown_account(world, root):
    refused_by_cli("account_not_found", 5, "user", "grant", "nobody", "--role", "member", "--unit", "A", "--as", "dave")
    refused_by_cli("account_not_found", 5, "user", "token", "nobody", "--as", "root")


def test_it_refuses_a_second_account_for_a_member(world, password_file):
    member_no = world.bob_member.member_no
    output = refused_by_cli(
        "member_has_account", 3,
        "user", "add", "bob2", "--role", "member", "--unit", "A", "--member", member_no,
        "--password-file", password_file, "--as", "dave",
    )  # fmt: skip
    assert f"{world.bob_member} already has an account." in output
    assert not Account.objects.filter(username="bob2").exists()


def test_it_refuses_a_member_number_that_is_taken_or_repeated(world, tmp_path):
    taken = world.bob_member.member_no
    fields = {"first_name": "Olena", "last_name": "Koval", "unit": world.unit_a}
    with unchanged(), pytest.raises(Refused) as refusal:
        services.create_member(member_no=taken, actor=world.dave, **fields)
    assert (refusal.value.code, refusal.value.detail) == (
        "member_no_taken",
        f"Member number {taken!r} is already taken.",
    )
    with unchanged(), pytest.raises(Refused) as refusal:
        services.create_members(
            members=[{"member_no": "N-7", **fields}, {"member_no": "N-8", **fields}, {"member_no": "N-7", **fields}],
            actor=world.dave,
        )
    assert (refusal.value.code, refusal.value.detail) == (
        "member_no_taken",
        "Member number 'N-7' appears more than once.",
    )
    # `muster import members` checks the numbers itself (read once per file) and reports the row, exit 1.
    path = tmp_path / "members.csv"
    path.write_text(
        "member_no,first_name,last_name,phone,email,unit_code,status,is_veteran,vetting_valid_until,joined_on\n"
        f"{taken},Olena,Koval,,,A,applicant,no,,2024-03-01\n"
    )
    with unchanged():
        code, output = call("import", "members", path, "--as", "dave")
    assert code == 1 and f"line 2, column member_no: member number {taken!r} is already taken" in output


def test_it_refuses_a_disciplinary_entry_without_a_note(world):
    # The web form and the API refuse a blank note themselves (field validation, code "invalid").
    with unchanged(), pytest.raises(Invalid) as refusal:
        services.add_disciplinary_entry(
            member=world.bob_member, occurred_on=date(2026, 1, 5), kind="warning", note=" \n\t", actor=world.dave
        )
    assert refusal.value.code == "note_missing"
    assert not DisciplinaryEntry.objects.exists()


def test_it_refuses_an_unknown_role(world):
    # `muster user` offers only the known roles (argparse choices); the service checks for every other caller.
    with unchanged():
        with pytest.raises(Invalid) as refusal:
            services.create_account(
                username="olena", role="general", unit=world.unit_a, actor=world.dave, password="a-long-passphrase-9"
            )
        assert refusal.value.code == "unknown_role"
        with pytest.raises(Invalid) as refusal:
            services.grant_role(account=world.erin, role="general", unit=world.unit_a, actor=world.dave)
        assert refusal.value.code == "unknown_role"
    assert "use one of commander" in refusal.value.detail
