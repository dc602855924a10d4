"""`muster transfer SERIAL TO_MEMBER_NO --as USERNAME`: hand an issued item from its holder to another member.

Both members confirm with their handover PINs (--giver-pin, --receiver-pin, or typed at prompts in a terminal).
The acting account is the holder's own, or an armorer or duty officer of the item's home unit.
"""

from muster.core.cli import MusterCommand
from muster.custody import queries, services
from muster.custody.api_handover import confirm_pin
from muster.custody.management.commands.issue import ask_pin, describe, parse_due
from muster.members.models import Member


class Command(MusterCommand):
    help = "Transfer an issued item from its holder to another member, both confirming. Prints the ledger event."

    def add_arguments(self, parser) -> None:
        parser.add_argument("serial", metavar="SERIAL", help="the item's serial number")
        parser.add_argument("to_member_no", metavar="TO_MEMBER_NO", help="the receiving member's number")
        parser.add_argument("--giver-pin", metavar="PIN", help="the holder's PIN (default: typed at a prompt)")
        parser.add_argument("--receiver-pin", metavar="PIN", help="the receiver's PIN (default: typed at a prompt)")
        parser.add_argument("--due", metavar="ISO_DATETIME", help="due-back time (default: the current one)")
        parser.add_argument("--reason", default="", help="recorded on the ledger event")
        parser.add_argument("--item-type", type=int, metavar="ID", help="the item type, where serials repeat")
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        actor = self.actor(options)
        due = self.run(lambda: parse_due(options["due"])) if options["due"] else None
        item = self.run(lambda: queries.find_item(actor, options["serial"], item_type_id=options["item_type"]))
        to_member = self.run(lambda: queries.find_recipient(actor, item, options["to_member_no"]))
        # Every rule first, so nobody types a PIN for a handover that cannot happen.
        self.run(lambda: services.precheck_transfer(item=item, to_member=to_member, actor=actor, due_at=due))
        giver_member = Member.objects.get(pk=item.holder_member_id)
        giver_pin = ask_pin(giver_member, options["giver_pin"], role="Giver")
        giver = self.run(lambda: confirm_pin(giver_member, giver_pin, actor=actor, purpose="transfer"))
        receiver_pin = ask_pin(to_member, options["receiver_pin"], role="Receiver")
        receiver = self.run(lambda: confirm_pin(to_member, receiver_pin, actor=actor, purpose="transfer"))
        event = self.run(
            lambda: services.transfer(
                item=item,
                to_member=to_member,
                actor=actor,
                giver=giver,
                receiver=receiver,
                due_at=due,
                reason=options["reason"],
            )
        )
        self.stdout.write(describe(event))
