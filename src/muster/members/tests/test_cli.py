import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from muster.core.errors import NotPermitted, Refused
from muster.members import scope, services
from muster.members.models import Account, Role, RoleAssignment, Unit

pytestmark = pytest.mark.django_db


def call(*args) -> tuple[int, str, str]:
    """Run a command as the CLI would; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("a-long-and-unusual-passphrase\n")
    return str(path)


def test_it_adds_an_account_with_its_role_linked_to_a_member(world, password_file):
    member = world.alice.member
    member.account.delete()  # free the member so a new account may be linked to it
    code, out, _ = call(
        "user", "add", "olena", "--role", "armorer", "--unit", "A", "--member", member.member_no,
        "--password-file", password_file, "--as", "dave",
    )  # fmt: skip
    assert code == 0
    assert out.strip() == f"created account olena: armorer of A, linked to member {member.member_no}"
    olena = Account.objects.get(username="olena")
    assert olena.member == member
    assert olena.check_password("a-long-and-unusual-passphrase")
    assert list(olena.roles.values_list("role", "unit__code")) == [("armorer", "A")]


def test_it_refuses_to_add_an_account_without_an_acting_account(world, password_file, monkeypatch):
    monkeypatch.delenv("MUSTER_USER", raising=False)
    code, _, err = call("user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", password_file)
    assert code == 4
    assert "--as USERNAME" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_refuses_an_unknown_acting_account(world, password_file):
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", password_file, "--as", "ghost"
    )
    assert code == 4
    assert "No account named 'ghost'" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_refuses_an_actor_who_does_not_command_the_unit(world, password_file):
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", password_file, "--as", "alice"
    )
    assert code == 4
    assert "not_commander" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_answers_not_found_for_a_unit_outside_the_actors_units(world, password_file):
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "B", "--password-file", password_file, "--as", "dave"
    )
    assert code == 5
    assert "No unit with code 'B' in your units" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_reports_why_a_password_is_refused(world, tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", str(weak), "--as", "dave"
    )
    assert code == 2
    assert "password_rejected" in err
    assert "at least 10 characters" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_refuses_a_username_already_taken(world, password_file):
    code, _, err = call(
        "user", "add", "Bob", "--role", "member", "--unit", "A", "--password-file", password_file, "--as", "dave"
    )
    assert code == 3
    assert "username_taken" in err
    assert Account.objects.filter(username__iexact="bob").count() == 1


def test_it_grants_a_role(world):
    code, out, _ = call("user", "grant", "bob", "--role", "duty_officer", "--unit", "A", "--as", "dave")
    assert (code, out.strip()) == (0, "granted bob: duty_officer of A")
    assert RoleAssignment.objects.filter(account=world.bob, unit=world.unit_a, role=Role.DUTY_OFFICER).exists()


def test_it_refuses_to_grant_a_role_twice(world):
    code, _, err = call("user", "grant", "alice", "--role", "armorer", "--unit", "A", "--as", "dave")
    assert code == 3
    assert "role_held" in err
    assert world.alice.roles.count() == 1


def test_it_prints_the_accounts_own_token(world):
    code, out, _ = call("user", "token", "bob", "--as", "bob")
    assert code == 0
    assert out.strip() == Token.objects.get(user=world.bob).key


def test_it_rotates_a_token(world):
    old = Token.objects.create(user=world.bob).key
    code, out, _ = call("user", "token", "bob", "--rotate", "--as", "bob")
    assert code == 0
    assert out.strip() != old
    assert list(Token.objects.filter(user=world.bob).values_list("key", flat=True)) == [out.strip()]


def test_it_refuses_to_show_another_accounts_token(world):
    code, _, err = call("user", "token", "bob", "--as", "dave")
    assert code == 4
    assert "not_token_owner" in err
    assert not Token.objects.filter(user=world.bob).exists()


def test_a_superuser_may_see_any_token(world):
    Account.objects.create_superuser("root", password="unused-password-1")
    code, out, _ = call("user", "token", "bob", "--as", "root")
    assert code == 0
    assert out.strip() == Token.objects.get(user=world.bob).key


def test_it_answers_not_found_for_an_unknown_account(world):
    code, _, err = call("user", "token", "ghost", "--as", "dave")
    assert code == 5
    assert "No account named 'ghost'" in err


# --- the services behind the commands --------------------------------------------------------------------


def test_it_creates_a_unit_under_a_unit_the_actor_commands(world):
    unit = services.create_unit(code="A-1", name="Platoon 1", kind=Unit.Kind.PLATOON, parent=world.unit_a,
                                actor=world.dave)  # fmt: skip
    assert unit.path == f"{world.unit_a.path}{unit.pk}/"
    assert scope.has_role(world.dave, unit, {Role.COMMANDER})


def test_it_refuses_a_top_level_unit_to_anyone_but_a_superuser(world):
    with pytest.raises(NotPermitted) as refusal:
        services.create_unit(code="TOP", name="Top", parent=None, actor=world.dave)
    assert refusal.value.code == "superuser_required"
    assert not Unit.objects.filter(code="TOP").exists()


def test_it_refuses_a_unit_code_already_taken(world):
    with pytest.raises(Refused) as refusal:
        services.create_unit(code="B", name="Again", parent=world.unit_a, actor=world.dave)
    assert refusal.value.code == "unit_code_taken"
    assert Unit.objects.filter(code="B").count() == 1


def test_it_refuses_a_member_in_a_unit_the_actor_does_not_command(world):
    with pytest.raises(NotPermitted) as refusal:
        services.create_member(member_no="X-1", first_name="X", last_name="Y", unit=world.unit_b, actor=world.dave)
    assert refusal.value.code == "not_commander"
    assert not world.unit_b.members.filter(member_no="X-1").exists()


def test_it_prompts_for_the_password_twice_and_refuses_a_mismatch(world, monkeypatch):
    answers = iter(["a-long-and-unusual-passphrase", "a-long-and-unusual-passphrasE"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = call("user", "add", "olena", "--role", "member", "--unit", "A", "--as", "dave")
    assert code == 2
    assert "The two passwords differ" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_creates_the_account_with_the_prompted_password(world, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-long-and-unusual-passphrase")
    code, _, _ = call("user", "add", "olena", "--role", "member", "--unit", "A", "--as", "dave")
    assert code == 0
    assert Account.objects.get(username="olena").check_password("a-long-and-unusual-passphrase")
