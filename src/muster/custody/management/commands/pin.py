"""`muster pin set MEMBER_NO --as USERNAME` / `muster pin status MEMBER_NO`: members' handover PINs.

`set` is done by the member's own account, or by an armorer or commander of their unit with the member present:
the member types the PIN twice (or it is read from --pin-file). `status` shows whether a PIN is set, whether it is
locked, and the recent entries; with --as it sees that account's members, without it every member (operator use).
"""

import getpass
import os
from pathlib import Path

from django.core.management.base import CommandError
from django.utils import timezone

from muster.core.cli import MusterCommand
from muster.core.errors import NotPermitted
from muster.custody import handover, queries
from muster.custody.api_handover import pin_status
from muster.members import scope
from muster.members.models import Member


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def read_pin(path: str | None) -> str:
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the PIN file {path}: {exc}", returncode=2) from None
        pin = lines[0].strip() if lines else ""
        if not pin:
            raise CommandError(f"The PIN file {path} has an empty first line.", returncode=2)
        return pin
    pin = getpass.getpass("New PIN: ")
    if pin != getpass.getpass("New PIN (again): "):
        raise CommandError("The two PINs differ; nothing was changed.", returncode=2)
    if not pin:
        raise CommandError("The PIN is empty; nothing was changed.", returncode=2)
    return pin


class Command(MusterCommand):
    help = "Set a member's handover PIN (set, needs --as) or show its state and recent entries (status)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{set,status}")
        set_ = actions.add_parser("set", help="set or reset a member's handover PIN")
        set_.add_argument("member_no", metavar="MEMBER_NO")
        set_.add_argument(
            "--pin-file", metavar="FILE", help="read the PIN from the first line of FILE (default: prompt twice)"
        )
        self.add_actor_argument(set_)
        status = actions.add_parser("status", help="whether a PIN is set or locked, and the recent entries")
        status.add_argument("member_no", metavar="MEMBER_NO")
        self.add_actor_argument(status)

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _set(self, options: dict) -> None:
        actor = self.actor(options)
        member = self.run(lambda: queries.find_member(actor, options["member_no"]))
        if actor.member_id != member.pk and not scope.has_role(actor, member.unit, handover.PIN_MANAGERS):
            # Refuse before asking for the PIN (run() records it like any refusal); the service checks it again.
            self.run(_not_pin_manager)
        pin = read_pin(options["pin_file"])
        self.run(lambda: handover.set_pin(member=member, pin=pin, actor=actor))
        self.stdout.write(f"Handover PIN set for {member.full_name} ({member.member_no}).")

    def _status(self, options: dict) -> None:
        member_no = options["member_no"].strip()
        if options["acting_username"] or os.environ.get("MUSTER_USER"):
            members, where = scope.visible_members(self.actor(options)), " in your units"
        else:
            members, where = Member.objects.all(), ""
        member = members.filter(member_no=member_no).first()
        if member is None:
            raise CommandError(f"member_not_found: No member with number {member_no!r}{where}.", returncode=5)
        state = pin_status(member)
        if not state["has_pin"]:
            self.stdout.write(f"{member.full_name} ({member.member_no}): no handover PIN set.")
        else:
            locked = f"LOCKED until {_local(state['locked_until'])}" if state["locked_until"] else "not locked"
            self.stdout.write(
                f"{member.full_name} ({member.member_no}): PIN set {_local(state['set_at'])} by {state['set_by']}; "
                f"{locked}"
            )
        if state["recent_attempts"]:
            self.stdout.write("Recent PIN entries:")
            for attempt in state["recent_attempts"]:
                outcome = "ok   " if attempt["succeeded"] else "WRONG"
                self.stdout.write(
                    f"  {_local(attempt['at'])}  {outcome}  {attempt['purpose']:<10}  by {attempt['actor']}"
                )


def _not_pin_manager():
    raise NotPermitted(
        "Only the member, or an armorer or commander of their unit, may set this PIN.", code="not_pin_manager"
    )
