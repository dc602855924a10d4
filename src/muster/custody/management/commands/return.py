"""`muster return SERIAL --as USERNAME`: take an issued item back into an armory (its home armory by default)."""

from muster.core.cli import MusterCommand
from muster.custody import queries, services
from muster.custody.management.commands.issue import describe


class Command(MusterCommand):
    help = "Return an issued item into its home armory (or --armory). Prints the ledger event."

    def add_arguments(self, parser) -> None:
        parser.add_argument("serial", metavar="SERIAL", help="the item's serial number")
        parser.add_argument("--armory", metavar="CODE", help="the armory taking it in (default: its home armory)")
        parser.add_argument("--reason", default="", help="recorded on the ledger event")
        parser.add_argument("--item-type", type=int, metavar="ID", help="the item type, where serials repeat")
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        actor = self.actor(options)
        item = self.run(lambda: queries.find_item(actor, options["serial"], item_type_id=options["item_type"]))
        armory = self.run(lambda: queries.find_armory(actor, options["armory"])) if options["armory"] else None
        event = self.run(lambda: services.return_item(item=item, actor=actor, armory=armory, reason=options["reason"]))
        self.stdout.write(describe(event))
