"""`muster totp reset USERNAME --as COMMANDER`: remove an account's authenticator (a lost or replaced phone).

The same rule as the web page: a commander of every unit the account serves, or a superuser; never one's own
(except a superuser). The account sets up a new authenticator at its next sign-in. Written to the audit trail.
"""

from muster.core import otp
from muster.core.cli import MusterCommand


class Command(MusterCommand):
    help = "Two-factor sign-in: reset an account's authenticator. Needs --as (or MUSTER_USER)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{reset}")
        reset = actions.add_parser("reset", help="remove the account's authenticator; it sets up a new one")
        reset.add_argument("username")
        self.add_actor_argument(reset)

    def handle(self, *args, **options) -> None:
        actor = self.actor(options)
        account = self.run(lambda: otp.find_account_to_reset(actor, options["username"]))
        self.run(lambda: otp.reset_device(account=account, actor=actor))
        self.stdout.write(f"reset two-factor sign-in of {account.username}: they set it up again at next sign-in")
