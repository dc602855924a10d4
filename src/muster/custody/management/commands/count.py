"""`muster count start|scan|submit|sign`: count an armory's shelves against the ledger, with a second signature.

`scan` takes codes as arguments, or reads them from standard input one per line, so a barcode scanner that types
into the terminal (or a file of codes piped in) feeds it directly. Each code is recorded as it is read.
"""

import sys

from muster.core.cli import MusterCommand
from muster.custody import counts, queries
from muster.custody.api_controls import Counters, Signers, require_role_somewhere
from muster.custody.count_models import Count, Discrepancy
from muster.custody.models import Item


def discrepancy_line(discrepancy: Discrepancy) -> str:
    what = str(discrepancy.item) if discrepancy.item_id else repr(discrepancy.code)
    return f"  #{discrepancy.pk:<6} {discrepancy.kind:<10}  {what}"


class Command(MusterCommand):
    help = "Count an armory: start, scan codes, submit (lists the discrepancies), and sign as the second person."
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        start = actions.add_parser("start", help="start counting an armory (armorers and duty officers)")
        start.add_argument("armory", metavar="ARMORY", help="the armory's code")
        start.add_argument("--reason", default="on demand", help="why it is counted (default: on demand)")
        scan = actions.add_parser("scan", help="record scanned codes (the counter); no CODE: read standard input")
        scan.add_argument("count_id", metavar="COUNT_ID")
        scan.add_argument("codes", metavar="CODE", nargs="*", help="serial numbers as scanned")
        for name, text in [("submit", "close scanning and print the discrepancies (the counter)"),
                           ("sign", "sign a submitted count as the second person")]:  # fmt: skip
            actions.add_parser(name, help=text).add_argument("count_id", metavar="COUNT_ID")
        for action in actions.choices.values():
            self.add_actor_argument(action)

    def handle(self, *args, **options) -> None:
        actor = self.actor(options)
        if options["action"] == "start":
            self.run(lambda: require_role_somewhere(actor, Counters))
            armory = self.run(lambda: queries.find_armory(actor, options["armory"]))
            count = self.run(lambda: counts.start(armory=armory, actor=actor, reason=options["reason"]))
            self.stdout.write(f"count {count.pk} of {armory.code} started by {actor.username}: "
                              f"{len(count.expected)} item(s) expected on the shelves")  # fmt: skip
            return
        if options["action"] == "sign":
            self.run(lambda: require_role_somewhere(actor, Signers))
        count = self.run(lambda: queries.find_count(actor, options["count_id"]))
        getattr(self, options["action"])(count, actor, options)

    def scan(self, count: Count, actor, options) -> None:
        codes = options["codes"] or self.read_codes(options.get("stdin") or sys.stdin)
        scanned = 0
        for code in codes:
            scan = self.run(lambda code=code: counts.scan(count=count, code=code, actor=actor))
            item = Item.objects.select_related("item_type").get(pk=scan.item_id) if scan.item_id else None
            self.stdout.write(f"{scan.code}  {item or 'matches no item'}")
            scanned += 1
        self.stdout.write(f"{scanned} code(s) scanned into count {count.pk}")

    def read_codes(self, stream):
        if stream.isatty():
            self.stderr.write("Scan codes, one per line; end with Ctrl-D.")
        for line in stream:
            if line.strip():  # a scanner's stray empty line is not a scan
                yield line.strip()

    def submit(self, count: Count, actor, options) -> None:
        found = self.run(lambda: counts.submit(count=count, actor=actor))
        count.refresh_from_db()
        state = "closed" if count.status == Count.Status.CLOSED else "awaiting a second signature"
        self.stdout.write(f"count {count.pk} of {count.armory.code} submitted, {state}: "
                          f"{len(found) or 'no'} discrepancies")  # fmt: skip
        rows = Discrepancy.objects.filter(count=count).select_related("item__item_type").order_by("kind", "pk")
        for discrepancy in rows:
            self.stdout.write(discrepancy_line(discrepancy))

    def sign(self, count: Count, actor, options) -> None:
        count = self.run(lambda: counts.sign(count=count, actor=actor))
        open_ones = Discrepancy.objects.filter(count=count, resolution="").count()
        self.stdout.write(f"count {count.pk} of {count.armory.code} signed by {actor.username}; "
                          f"{open_ones} discrepancies to resolve")  # fmt: skip
