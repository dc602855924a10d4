"""`muster issue SERIAL MEMBER_NO --as USERNAME [--pin PIN]`: hand an item from its armory to a member.

The member confirms with their handover PIN: --pin, or typed at a prompt when the command runs in a terminal.
"""

import getpass
import sys
from datetime import datetime

from django.conf import settings
from django.utils import dateparse, timezone

from muster.core.cli import MusterCommand
from muster.core.errors import Invalid
from muster.custody import queries, services
from muster.custody.api_handover import confirm_pin
from muster.custody.models import LedgerEvent
from muster.members.models import Member


def parse_due(value: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is read in the site's time zone."""
    try:
        due = dateparse.parse_datetime(value.strip())
    except ValueError:
        due = None
    if due is None:
        raise Invalid(f"--due {value!r} is not a date-time like 2025-06-30T18:00 or 2025-06-30T18:00+03:00.",
                      code="due_not_datetime")  # fmt: skip
    return timezone.make_aware(due) if timezone.is_naive(due) else due


def interactive() -> bool:
    return sys.stdin.isatty()


def ask_pin(member: Member, given: str | None, *, role: str) -> str | None:
    """The PIN given on the command line, else typed by the member at a prompt (only in a terminal; an empty
    answer gives none, and the service's refusal, e.g. receiver_confirmation_required, applies)."""
    if given is not None or not interactive():
        return given
    return getpass.getpass(f"{role} {member.full_name} ({member.member_no}), type your PIN: ") or None


def describe(event: LedgerEvent) -> str:
    item = event.item
    line = f"#{event.seq} {event.kind} {event.hash[:12]}  {item.item_type.name} #{item.serial_number}"
    if event.to_member_id:
        member = event.to_member
        due = timezone.localtime(event.due_at).strftime("%Y-%m-%d %H:%M %Z") if event.due_at else "-"
        return f"{line} → {member.full_name} ({member.member_no}), due back {due}"
    return f"{line} → {event.to_armory.code}"


class Command(MusterCommand):
    help = "Issue an item to a member. Prints the ledger event (sequence, hash prefix, item, member, due-back)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("serial", metavar="SERIAL", help="the item's serial number")
        parser.add_argument("member_no", metavar="MEMBER_NO", help="the receiving member's number")
        parser.add_argument("--due", metavar="ISO_DATETIME", help="due-back time (default: the item type's period)")
        parser.add_argument("--reason", default="", help="recorded on the ledger event")
        parser.add_argument("--item-type", type=int, metavar="ID", help="the item type, where serials repeat")
        parser.add_argument(
            "--pin", metavar="PIN", help="the member's handover PIN (default: the member types it at a prompt)"
        )
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        actor = self.actor(options)
        due = self.run(lambda: parse_due(options["due"])) if options["due"] else None
        item = self.run(lambda: queries.find_item(actor, options["serial"], item_type_id=options["item_type"]))
        member = self.run(lambda: queries.find_member(actor, options["member_no"]))
        # Every rule first: a PIN typed for an issue that cannot happen would be logged and count towards the lockout.
        self.run(lambda: services.precheck_issue(item=item, member=member, actor=actor, due_at=due))
        pin = options["pin"]
        if settings.MUSTER_REQUIRE_HANDOVER_PIN:
            pin = ask_pin(member, pin, role="Receiver")
        receiver = self.run(lambda: confirm_pin(member, pin, actor=actor, purpose="issue"))
        event = self.run(
            lambda: services.issue(
                item=item, member=member, actor=actor, due_at=due, reason=options["reason"], receiver=receiver
            )
        )
        self.stdout.write(describe(event))
