"""`muster qualifications MEMBER_NO [--as USERNAME]`: what a member is qualified for, and until when. Read-only.

With --as (or MUSTER_USER) it sees what that account sees: members of its units and the account's own member; any
other member is "not found". Without, it is an operator tool on the server and sees every member, like
`muster holdings`.
"""

import csv
import os
from datetime import date, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from muster.core.cli import MusterCommand
from muster.core.exports import neutralise
from muster.members import scope
from muster.members.models import Member
from muster.training.models import MemberQualification

EXPIRING_DAYS = 30  # a qualification that runs out within this many days is shown as "expiring"
CSV_COLUMNS = ("member_no", "qualification_code", "qualification", "granted_on", "expires_on", "source", "status")


def status(expires_on: date, today: date) -> str:
    if expires_on < today:
        return "expired"
    if expires_on <= today + timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return "valid"


def latest_grants(member: Member) -> list[MemberQualification]:
    """The grant that counts for each qualification the member has held: the one expiring last."""
    grants = (
        MemberQualification.objects.filter(member=member)
        .select_related("qualification", "session__course")
        .order_by("qualification__name", "-expires_on", "-granted_on")
    )
    latest: dict[int, MemberQualification] = {}
    for grant in grants:
        latest.setdefault(grant.qualification_id, grant)
    return list(latest.values())


def source(grant: MemberQualification) -> str:
    if grant.session is not None:
        return f"{grant.session.course.name}, {timezone.localdate(grant.session.starts_at):%Y-%m-%d}"
    return "prior service"


class Command(MusterCommand):
    help = (
        "List a member's qualifications: granted, expires, source and status (valid, expiring within "
        f"{EXPIRING_DAYS} days, expired). Read-only; without --as it sees every member (operator use)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("member_no", metavar="MEMBER_NO")
        parser.add_argument("--format", choices=["text", "csv"], default="text")
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        member_no = options["member_no"].strip()
        if options["acting_username"] or os.environ.get("MUSTER_USER"):
            members, where = scope.visible_members(self.actor(options)), " in your units"
        else:
            members, where = Member.objects.all(), ""
        member = members.select_related("unit").filter(member_no=member_no).first()
        if member is None:
            raise CommandError(f"No member with number {member_no!r}{where}.", returncode=5)
        grants = latest_grants(member)
        today = timezone.localdate()
        if options["format"] == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for grant in grants:
                writer.writerow([neutralise(value) for value in (
                    member.member_no, grant.qualification.code, grant.qualification.name, grant.granted_on.isoformat(),
                    grant.expires_on.isoformat(), grant.source, status(grant.expires_on, today),
                )])  # fmt: skip
            return
        self.stdout.write(f"{member.member_no}  {member.full_name}  ({member.unit.code})")
        if not grants:
            self.stdout.write("  no qualifications")
            return
        rows = [
            (grant.qualification.name, f"{grant.granted_on}", f"{grant.expires_on}", source(grant),
             status(grant.expires_on, today))
            for grant in grants
        ]  # fmt: skip
        header = ("QUALIFICATION", "GRANTED", "EXPIRES", "SOURCE", "STATUS")
        widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [f"{value:<{width}}" for value, width in zip(row, widths, strict=False)]
            self.stdout.write("  " + "  ".join([*cells, row[-1]]))
