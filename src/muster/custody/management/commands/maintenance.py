"""`muster maintenance send|receive|due`: items to the workshop and back, and the queue of inspections due."""

import os

from muster.core.cli import MusterCommand
from muster.custody import maintenance, queries
from muster.custody.api_controls import Armorers, require_role_somewhere
from muster.custody.management.commands.issue import describe
from muster.custody.models import Item


class Command(MusterCommand):
    help = "Send an item to a workshop, take it back (inspected), or list the items due for inspection."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        send = actions.add_parser("send", help="send an item from its store to a workshop (armorers)")
        send.add_argument("--workshop", required=True, metavar="CODE", help="the workshop's code")
        send.add_argument("--reason", required=True, metavar="TEXT", help="what needs doing")
        receive = actions.add_parser("receive", help="take an item back from the workshop into a store (armorers)")
        receive.add_argument("--condition", required=True, help="serviceable, needs_repair or unserviceable")
        receive.add_argument("--notes", required=True, metavar="TEXT", help="what was done")
        receive.add_argument("--armory", metavar="CODE", help="the store it comes back to (default: its home)")
        receive.add_argument("--not-inspected", action="store_true", help="the work was no full inspection")
        for action in (send, receive):
            action.add_argument("serial", metavar="SERIAL", help="the item's serial number")
            action.add_argument("--item-type", type=int, metavar="ID", help="the item type, where serials repeat")
        due = actions.add_parser("due", help="items due for inspection (never inspected first)")
        due.add_argument("--armory", metavar="CODE", help="only items homed in this armory")
        for action in actions.choices.values():
            self.add_actor_argument(action)

    def handle(self, *args, **options) -> None:
        if options["action"] == "due":
            return self.due(options)
        actor = self.actor(options)
        self.run(lambda: require_role_somewhere(actor, Armorers))
        item = self.run(lambda: queries.find_item(actor, options["serial"], item_type_id=options["item_type"]))
        if options["action"] == "send":
            workshop = self.run(lambda: queries.find_armory(actor, options["workshop"]))
            event = self.run(
                lambda: maintenance.send(item=item, workshop=workshop, actor=actor, reason=options["reason"])
            )
        else:
            armory = self.run(lambda: queries.find_armory(actor, options["armory"])) if options["armory"] else None
            event = self.run(
                lambda: maintenance.receive(
                    item=item, actor=actor, condition=options["condition"], notes=options["notes"], armory=armory,
                    inspected=not options["not_inspected"],
                )
            )  # fmt: skip
        self.stdout.write(describe(event))

    def due(self, options) -> None:
        """With an acting account, the items it may see; without one, every item (an operator tool)."""
        named = options.get("acting_username") or os.environ.get("MUSTER_USER")
        items = queries.visible_items(self.actor(options)) if named else Item.objects.all()
        if options["armory"]:
            items = items.filter(home_armory__code=options["armory"])
        rows = list(maintenance.due_for_inspection(items.select_related("item_type", "home_armory")))
        for item in rows:
            last = item.last_inspected_on.isoformat() if item.last_inspected_on else "never"
            self.stdout.write(f"{item.home_armory.code:<12} {item}  last inspected {last}, "
                              f"every {item.item_type.inspection_interval_days} days")  # fmt: skip
        self.stdout.write(f"{len(rows)} item(s) due for inspection")
