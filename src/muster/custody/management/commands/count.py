"""`muster count start|scan|submit|resolve|sign`: count an armory's shelves against the ledger, resolve every
discrepancy, and sign as the second person.

`scan` takes codes as arguments, or reads them from standard input one per line, so a barcode scanner that types
into the terminal (or a file of codes piped in) feeds it directly. Each code is recorded as it is read.
"""

import sys

from django.core.management.base import CommandError

from muster.core.cli import MusterCommand
from muster.core.errors import NotFound
from muster.custody import counts, queries
from muster.custody.api_controls import Counters, Signers, require_role_somewhere
from muster.custody.count_models import Count, Discrepancy
from muster.custody.models import Item


def discrepancy_line(discrepancy: Discrepancy) -> str:
    what = str(discrepancy.item) if discrepancy.item_id else repr(discrepancy.code)
    state = ""
    if discrepancy.resolution == Discrepancy.Resolution.LOSS_CASE:
        state = f"  → loss case {discrepancy.loss_case_id}"
    elif discrepancy.resolution:
        state = "  → found" + (" (scanned back)" if discrepancy.found_scan_id else "")
    return f"  #{discrepancy.pk:<6} {discrepancy.kind:<10}  {what}{state}"


def find_discrepancy(actor, pk) -> Discrepancy:
    """A discrepancy of a count the account may see (else not found, exit 5)."""
    discrepancy = (
        Discrepancy.objects.filter(pk=queries.as_id(pk), count__in=queries.visible_counts(actor))
        .select_related("count__armory__unit", "item__item_type")
        .first()
    )
    if discrepancy is None:
        raise NotFound(f"No discrepancy {pk} in your units.", code="discrepancy_not_found")
    return discrepancy


class Command(MusterCommand):
    help = (
        "Count an armory: start, scan codes, submit (lists the discrepancies), resolve each discrepancy, and sign as "
        "the second person."
    )
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
                           ("sign", "sign as the second person, once every discrepancy is resolved")]:  # fmt: skip
            actions.add_parser(name, help=text).add_argument("count_id", metavar="COUNT_ID")
        resolve = actions.add_parser(
            "resolve", help="resolve a discrepancy: found (a missing item scanned back), explained, or a loss case"
        )
        resolve.add_argument("discrepancy_id", metavar="DISCREPANCY_ID", help="as printed by submit")
        resolve.add_argument("--explanation", required=True, metavar="TEXT", help="what was found or what happened")
        how = resolve.add_mutually_exclusive_group()
        how.add_argument("--scan", dest="scanned_code", default="", metavar="CODE",
                         help="a missing item found: its serial number, scanned from the item in hand")  # fmt: skip
        how.add_argument("--loss-case", dest="open_loss_case", action="store_true",
                         help="a missing item not found: open an unaccounted loss case")  # fmt: skip
        resolve.add_argument(
            "--place", default="", help="with --loss-case: where it was last seen (default: the armory)"
        )
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
        if options["action"] in ("sign", "resolve"):
            self.run(lambda: require_role_somewhere(actor, Signers))
        if options["action"] == "resolve":
            self.resolve(actor, options)
            return
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
        head = f"count {count.pk} of {count.armory.code} submitted"
        if count.status == Count.Status.CLOSED:
            self.stdout.write(f"{head}, closed: no discrepancies")
        elif not found:
            self.stdout.write(f"{head}, awaiting a second signature: no discrepancies")
        else:
            then = "a second signature" if counts.policy(count.armory).second_signature else "the count closes"
            how = "muster count resolve ID --explanation TEXT [--scan CODE | --loss-case]"
            self.stdout.write(f"{head}: {len(found)} discrepancies to resolve ({how}), then {then}")
        rows = Discrepancy.objects.filter(count=count).select_related("item__item_type").order_by("kind", "pk")
        for discrepancy in rows:
            self.stdout.write(discrepancy_line(discrepancy))

    def resolve(self, actor, options) -> None:
        if options["place"] and not options["open_loss_case"]:
            raise CommandError("--place goes with --loss-case (where a missing item was last seen).", returncode=2)
        discrepancy = self.run(lambda: find_discrepancy(actor, options["discrepancy_id"]))
        resolved = self.run(
            lambda: counts.resolve(
                discrepancy=discrepancy,
                actor=actor,
                explanation=options["explanation"],
                open_loss_case=options["open_loss_case"],
                place=options["place"],
                scanned_code=options["scanned_code"],
            )
        )
        count = Count.objects.select_related("armory").get(pk=resolved.count_id)
        left = Discrepancy.objects.filter(count=count, resolution="").count()
        if left:
            after = f"{left} discrepancies of count {count.pk} still to resolve"
        elif count.status == Count.Status.CLOSED:
            after = f"count {count.pk} of {count.armory.code} is closed"
        else:
            after = f"count {count.pk} is ready for its second signature (muster count sign {count.pk})"
        self.stdout.write(f"{discrepancy_line(resolved).strip()} by {actor.username}; {after}")

    def sign(self, count: Count, actor, options) -> None:
        count = self.run(lambda: counts.sign(count=count, actor=actor))
        self.stdout.write(f"count {count.pk} of {count.armory.code} signed by {actor.username}; closed")
