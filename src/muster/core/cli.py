"""Shared plumbing for Muster's management commands: the acting account and the error → exit-code mapping.

Exit codes: 0 done; 1 verification failed or an import file had bad rows; 2 invalid input; 3 refused by a rule;
4 not permitted; 5 not found. (argparse itself also exits 2 on bad usage.)

Every "not permitted" (exit 4: an unknown or disabled --as account, or a service's NotPermitted) is recorded as a
`refused` AuditEvent naming the command, and every refusal by a rule (exit 3: a service's Refused) as a
`rule_refused` one, as the web and the API record theirs.
"""

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import BaseCommand, CommandError

from muster.core.errors import DomainError, NotPermitted, Refused

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
            self.audit_refusal(None, "account_not_found", f"no account named {username!r}", username=username)
            raise CommandError(f"No account named {username!r}.", returncode=4) from None
        if not account.is_active:
            self.audit_refusal(account, "account_disabled", f"account {username!r} is disabled")
            raise CommandError(f"Account {username!r} is disabled.", returncode=4)
        self._acting = account
        return account

    def run(self, action: Callable[[], T]) -> T:
        """Call a service; turn a domain error into a one-line message and its exit code."""
        try:
            return action()
        except DomainError as exc:
            if isinstance(exc, NotPermitted):
                self.audit_refusal(getattr(self, "_acting", None), exc.code, exc.detail)
            elif isinstance(exc, Refused) and not exc.recorded:
                self.audit_refusal(getattr(self, "_acting", None), exc.code, exc.detail, rule=True)
            raise CommandError(f"{exc.code}: {exc.detail}", returncode=exc.exit_code) from None

    def audit_refusal(self, account, code: str, detail: str, *, username: str = "", rule: bool = False) -> None:
        """Record a refusal: `refused` (not permitted), or with `rule` `rule_refused` (a rule's refusal)."""
        from muster.core import audit
        from muster.core.models import AuditEvent

        command = type(self).__module__.rpartition(".")[2]
        text = f"muster {command}: {code}: {detail}"
        kind = AuditEvent.Kind.RULE_REFUSED if rule else AuditEvent.Kind.REFUSED
        audit.record(kind, account=account, username=username, detail=text)
