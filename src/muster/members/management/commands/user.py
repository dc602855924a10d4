"""`muster user add|grant|token|password|logout`: accounts, roles and credentials from the server's shell.

The first account comes from Django's `muster createsuperuser`; every other one is created by an existing account
(--as) with commander rights on the unit, so the command never bypasses the rules the web pages apply.
`password` sets a password as the account's page does (its other sessions end, its API token goes); Django's own
`changepassword` leaves the API token, so use this one. `logout` ends the signed-in sessions of one account, or with
--all of every account (and with --tokens deletes the API tokens as well).
"""

import getpass
from pathlib import Path

from django.core.management.base import CommandError
from django.utils import timezone

from muster.core import authentication
from muster.core.cli import MusterCommand
from muster.core.errors import NotFound
from muster.members import credentials, scope, services
from muster.members.models import Account, Member, Role, Unit


class Command(MusterCommand):
    help = (
        "Create accounts, grant roles, show API tokens, set passwords and end sessions. Every action needs --as "
        "(or MUSTER_USER)."
    )

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,grant,token,password,logout}")

        add = actions.add_parser("add", help="create an account holding a role on a unit")
        add.add_argument("username")
        add.add_argument("--role", required=True, choices=Role.values)
        add.add_argument("--unit", required=True, metavar="CODE", help="the unit the role applies to (and below)")
        add.add_argument("--member", metavar="MEMBER_NO", help="link the account to this member")
        add.add_argument("--email", default="")
        add.add_argument(
            "--password-file",
            metavar="FILE",
            help="read the password from the first line of FILE (default: prompt twice)",
        )
        self.add_actor_argument(add)

        grant = actions.add_parser("grant", help="give an existing account a role on a unit")
        grant.add_argument("username")
        grant.add_argument("--role", required=True, choices=Role.values)
        grant.add_argument("--unit", required=True, metavar="CODE")
        self.add_actor_argument(grant)

        token = actions.add_parser(
            "token",
            help="print the account's API token (and, on stderr, when it expires), creating it if it has none or "
            "its token has expired",
        )
        token.add_argument("username")
        token.add_argument("--rotate", action="store_true", help="replace the token; the old one stops working")
        self.add_actor_argument(token)

        password = actions.add_parser(
            "password", help="set an account's password (the account itself or a superuser); its other sessions end"
        )
        password.add_argument("username")
        password.add_argument(
            "--password-file",
            metavar="FILE",
            help="read the password from the first line of FILE (default: prompt twice)",
        )
        self.add_actor_argument(password)

        logout = actions.add_parser("logout", help="end the signed-in sessions of an account, or of every account")
        logout.add_argument("username", nargs="?", help="the account (or give --all)")
        logout.add_argument("--all", action="store_true", help="every account's sessions (superusers only)")
        logout.add_argument("--tokens", action="store_true", help="delete the API tokens as well")
        self.add_actor_argument(logout)

    def handle(self, *args, **options) -> None:
        actor = self.actor(options)
        getattr(self, f"_{options['action']}")(actor, options)

    def _add(self, actor: Account, options: dict) -> None:
        unit = self.run(lambda: _find_unit(actor, options["unit"]))
        member = self.run(lambda: _find_member(actor, options["member"])) if options["member"] else None
        password = _read_password(options["password_file"])
        account = self.run(
            lambda: services.create_account(
                username=options["username"], role=options["role"], unit=unit, actor=actor,
                password=password, member=member, email=options["email"],
            )
        )  # fmt: skip
        linked = f", linked to member {member.member_no}" if member else ""
        self.stdout.write(f"created account {account.username}: {options['role']} of {unit.code}{linked}")

    def _grant(self, actor: Account, options: dict) -> None:
        unit = self.run(lambda: _find_unit(actor, options["unit"]))
        account = self.run(lambda: _find_account(options["username"]))
        self.run(lambda: services.grant_role(account=account, role=options["role"], unit=unit, actor=actor))
        self.stdout.write(f"granted {account.username}: {options['role']} of {unit.code}")

    def _token(self, actor: Account, options: dict) -> None:
        account = self.run(lambda: _find_account(options["username"]))
        token = self.run(lambda: services.issue_token(account=account, actor=actor, rotate=options["rotate"]))
        self.stdout.write(token.key)  # alone on stdout, for scripts: TOKEN=$(muster user token ...)
        expires = timezone.localtime(authentication.expires_at(token))
        self.stderr.write(f"expires {expires:%Y-%m-%d %H:%M %Z}; after that this command gives a new token")

    def _password(self, actor: Account, options: dict) -> None:
        account = self.run(lambda: _find_account(options["username"]))
        password = _read_password(options["password_file"], nothing="nothing was changed")
        ended = self.run(lambda: credentials.set_password(account=account, password=password, actor=actor))
        self.stdout.write(
            f"password of {account.username} set; {ended} session(s) ended; its API token, if any, deleted"
        )

    def _logout(self, actor: Account, options: dict) -> None:
        if bool(options["username"]) == options["all"]:
            raise CommandError("Name one account, or give --all for every account.", returncode=2)
        account = None if options["all"] else self.run(lambda: _find_account(options["username"]))
        ended, deleted = self.run(
            lambda: credentials.end_sessions(actor=actor, account=account, tokens=options["tokens"])
        )
        whose = "every account" if account is None else account.username
        tokens = f", {deleted} API token(s) deleted" if options["tokens"] else ""
        self.stdout.write(f"{ended} session(s) of {whose} ended{tokens}")


def _find_unit(actor: Account, code: str) -> Unit:
    unit = scope.units(actor).filter(code=code.strip()).first()
    if unit is None:
        raise NotFound(f"No unit with code {code!r} in your units.", code="unit_not_found")
    return unit


def _find_member(actor: Account, member_no: str) -> Member:
    member = scope.visible_members(actor).filter(member_no=member_no.strip()).select_related("unit").first()
    if member is None:
        raise NotFound(f"No member with number {member_no!r} in your units.", code="member_not_found")
    return member


def _find_account(username: str) -> Account:
    account = Account.objects.filter(username=username.strip()).first()
    if account is None:
        raise NotFound(f"No account named {username!r}.", code="account_not_found")
    return account


def _read_password(path: str | None, *, nothing: str = "nothing was created") -> str:
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the password file {path}: {exc}", returncode=2) from None
        password = lines[0] if lines else ""
        if not password:
            raise CommandError(f"The password file {path} has an empty first line.", returncode=2)
        return password
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Password (again): "):
        raise CommandError(f"The two passwords differ; {nothing}.", returncode=2)
    if not password:
        raise CommandError(f"The password is empty; {nothing}.", returncode=2)
    return password
