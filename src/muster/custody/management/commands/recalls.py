"""`muster recalls scan`: open recalls for issued items whose holder lapsed (the worker does this every 15 min)."""

from muster.core.cli import MusterCommand
from muster.custody import recalls
from muster.custody.models import Recall


class Command(MusterCommand):
    help = "Recalls of issued items whose holder may no longer hold them."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("scan", help="find lapsed holders now and open recalls (idempotent)")
        actions.add_parser("list", help="print the open recalls")

    def handle(self, *args, **options):
        if options["action"] == "scan":
            found = recalls.scan()
            self.stdout.write(f"opened {len(found)} recall(s)")
            for recall in found:
                self.stdout.write(f"  {recall.item} from {recall.member}: {recall.get_reason_display()}")
            return
        open_recalls = Recall.objects.filter(resolved_at=None).select_related("item__item_type", "member")
        for recall in open_recalls.order_by("raised_at"):
            self.stdout.write(
                f"{recall.raised_at:%Y-%m-%d %H:%M}  {recall.item}  {recall.member}  {recall.get_reason_display()}"
            )
        self.stdout.write(f"{open_recalls.count()} open recall(s)")
