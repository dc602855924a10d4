"""Shared plumbing for Muster's management commands: the acting account and the error → exit-code mapping.

Exit codes: 0 done; 1 verification failed or an import file had bad rows; 2 invalid input; 3 refused by a rule;
4 not permitted; 5 not found. (argparse itself also exits 2 on bad usage.)
"""

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import BaseCommand, CommandError

from muster.core.errors import DomainError

T = TypeVar("T")


class MusterCommand(BaseCommand):
    """A command that may act as an account. Subclasses call `self.actor(options)` and `self.run(fn)`."""

    def add_actor_argument(self, parser) -> None:
        parser.add_argument(
            "--as",
            dest="acting_username",
            metavar="USERNAME",
            help="the account this command acts as (default: $MUSTER_USER); the ledger records it",
        )

    def actor(self, options: dict):
        from muster.members.models import Account

        username = options.get("acting_username") or os.environ.get("MUSTER_USER")
        if not username:
            raise CommandError("This command changes records: name the acting account with --as USERNAME "
                               "or MUSTER_USER.", returncode=4)  # fmt: skip
        try:
            account = Account.objects.get(username=username)
        except Account.DoesNotExist:
            raise CommandError(f"No account named {username!r}.", returncode=4) from None
        if not account.is_active:
            raise CommandError(f"Account {username!r} is disabled.", returncode=4)
        return account

    def run(self, action: Callable[[], T]) -> T:
        """Call a service; turn a domain error into a one-line message and its exit code."""
        try:
            return action()
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}", returncode=exc.exit_code) from None
