"""`muster loss open|report|recover|list`: loss cases of controlled items, on the same rules as the web and API."""

import os

from django.db.models import Q
from django.utils import dateparse, timezone

from muster.core.cli import MusterCommand
from muster.core.errors import Invalid
from muster.custody import losses, queries
from muster.custody.api_controls import (
    Armorers,
    LossReporters,
    require_role_somewhere,
    with_case_parties,
)
from muster.custody.models import LossCase


def parse_when(value: str):
    """An ISO 8601 date-time; without an offset it is read in the site's time zone."""
    try:
        when = dateparse.parse_datetime(value.strip())
    except ValueError:
        when = None
    if when is None:
        raise Invalid(f"--when {value!r} is not a date-time like 2026-06-30T18:00 or 2026-06-30T18:00+03:00.",
                      code="when_not_datetime")  # fmt: skip
    return timezone.make_aware(when) if timezone.is_naive(when) else when


def check_status(value: str) -> str:
    if value not in LossCase.Status.values:
        raise Invalid(f"Unknown status {value!r}; use one of {', '.join(LossCase.Status.values)}.",
                      code="unknown_status")  # fmt: skip
    return value


def case_line(case: LossCase) -> str:
    custodian = case.last_member or case.last_armory
    if case.closed_at:
        state = f"recovered {timezone.localtime(case.closed_at):%Y-%m-%d}"
    elif case.authorities_notified_at:
        state = f"reported, no. {case.police_report_no}"
    else:
        state = f"report by {timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    return (f"{case.pk:>5}  {timezone.localtime(case.opened_at):%Y-%m-%d %H:%M}  {case.status:<9}  {case.kind:<11}  "
            f"{case.subject}  last with {custodian}  {state}")  # fmt: skip


class Command(MusterCommand):
    help = "Loss cases: report an item lost or stolen, record the police report, recover it, list the cases."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        opened = actions.add_parser("open", help="report an item lost, stolen, damaged or unaccounted for")
        opened.add_argument("serial", metavar="SERIAL", help="the item's serial number")
        opened.add_argument("--kind", required=True, help=f"one of: {', '.join(LossCase.Kind.values)}")
        opened.add_argument("--circumstances", required=True, metavar="TEXT", help="what happened")
        opened.add_argument("--where", required=True, metavar="PLACE", help="where it happened")
        opened.add_argument("--when", metavar="ISO_DATETIME", help="when it happened (default: now)")
        opened.add_argument("--police-report", default="", metavar="NO", help="the report number, if reported")
        opened.add_argument("--item-type", type=int, metavar="ID", help="the item type, where serials repeat")
        report = actions.add_parser("report", help="record the report to the police or authorities")
        report.add_argument("case_id", metavar="CASE_ID")
        report.add_argument("--police-report", required=True, metavar="NO", help="the report number")
        recover = actions.add_parser("recover", help="the item is back: bring it into an armory, close the case")
        recover.add_argument("case_id", metavar="CASE_ID")
        recover.add_argument("--armory", required=True, metavar="CODE", help="the armory it comes back into")
        recover.add_argument("--notes", required=True, metavar="TEXT", help="how and where it was recovered")
        recover.add_argument("--condition", help="serviceable, needs_repair or unserviceable (default: unchanged)")
        listing = actions.add_parser("list", help="open and escalated cases (--all: recovered ones too)")
        listing.add_argument("--status", help="only cases in this status: open, escalated or recovered")
        listing.add_argument("--armory", metavar="CODE", help="only items and lots homed in this armory")
        listing.add_argument("--all", action="store_true", help="include recovered cases")
        for action in actions.choices.values():
            self.add_actor_argument(action)

    def handle(self, *args, **options) -> None:
        if options["action"] == "list":
            return self.list_cases(options)
        actor = self.actor(options)
        self.run(lambda: require_role_somewhere(actor, Armorers if options["action"] == "recover" else LossReporters))
        if options["action"] == "open":
            when = self.run(lambda: parse_when(options["when"])) if options["when"] else timezone.now()
            item = self.run(lambda: queries.find_item(actor, options["serial"], item_type_id=options["item_type"]))
            case = self.run(
                lambda: losses.open_case(
                    item=item, kind=options["kind"], circumstances=options["circumstances"], occurred_at=when,
                    place=options["where"], police_report_no=options["police_report"], actor=actor,
                )
            )  # fmt: skip
        else:
            case = self.run(lambda: queries.find_loss_case(actor, options["case_id"]))
            if options["action"] == "report":
                number = options["police_report"]
                self.run(lambda: losses.record_report_to_authorities(case=case, police_report_no=number, actor=actor))
            else:
                armory = self.run(lambda: queries.find_armory(actor, options["armory"]))
                notes, condition = options["notes"], options["condition"]
                self.run(
                    lambda: losses.recover(case=case, armory=armory, actor=actor, notes=notes, condition=condition)
                )
        self.stdout.write(case_line(with_case_parties(LossCase.objects).get(pk=case.pk)))

    def list_cases(self, options) -> None:
        """With an acting account, the cases it may see; without one, every case (an operator tool on the server)."""
        named = options.get("acting_username") or os.environ.get("MUSTER_USER")
        actor = self.actor(options) if named else None
        cases = with_case_parties(queries.visible_loss_cases(actor) if actor else LossCase.objects.all())
        if options["status"]:
            cases = cases.filter(status=self.run(lambda: check_status(options["status"])))
        elif not options["all"]:
            cases = cases.filter(closed_at=None)
        if options["armory"]:
            code = options["armory"]
            cases = cases.filter(Q(item__home_armory__code=code) | Q(lot__home_armory__code=code))
        rows = list(cases.order_by("-opened_at", "-pk"))
        for case in rows:
            self.stdout.write(case_line(case))
        self.stdout.write(f"{len(rows)} case(s)")
