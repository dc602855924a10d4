"""Import files for training records: qualifications members earned before Muster kept the record.

Every row becomes a prior-service grant through `services.record_prior_service`, with the evidence it rests on, so
the commander rule and the date checks are those of a grant recorded by hand. Grants from a training session are
not imported: they come from recording the session's results, which keeps its roster and attendance with them.
"""

from datetime import timedelta

from muster.core.csvimport import Importer, Row
from muster.members import scope
from muster.members.models import Member
from muster.training import services
from muster.training.models import MemberQualification, Qualification


class TrainingImporter(Importer):
    kind = "training"
    noun = "training records"
    columns = ("member_no", "qualification", "granted_on", "expires_on", "evidence")
    example = ("M-1042", "rifle-ak", "2023-05-10", "", "Certificate 1187, 72nd Brigade training centre")
    error_columns = {
        "not_commander": "member_no",
        "evidence_missing": "evidence",
        "expiry_before_grant": "expires_on",
        "grant_in_future": "granted_on",
    }

    def __init__(self, actor):
        super().__init__(actor)
        self.lines: dict[tuple, int] = {}  # (member_no, qualification code, granted_on) → first line
        self.members: dict[str, Member | None] = {}
        self.qualifications = {qualification.code: qualification for qualification in Qualification.objects.all()}

    def parse(self, row: Row) -> dict | None:
        member = self._member(row)
        qualification = self._qualification(row)
        granted_on = row.date("granted_on", required=True)
        expires_on = row.date("expires_on")
        evidence = row.text("evidence", required=True, max_length=1000)
        if row.errors:
            return None
        key = (member.member_no, qualification.code, granted_on)
        if key in self.lines:
            row.error(None, f"duplicate of line {self.lines[key]}: {qualification.code} granted on {granted_on}")
            return None
        self.lines[key] = row.line
        if MemberQualification.objects.filter(
            member=member, qualification=qualification, granted_on=granted_on
        ).exists():
            row.error(None, f"{member.member_no} already has {qualification.code} granted on {granted_on}")
            return None
        return {
            "member": member,
            "qualification": qualification,
            "granted_on": granted_on,
            "expires_on": expires_on or granted_on + timedelta(days=qualification.validity_days),
            "evidence": evidence,
        }

    def _member(self, row: Row) -> Member | None:
        member_no = row.text("member_no", required=True)
        if not member_no:
            return None
        if member_no not in self.members:
            visible = scope.visible_members(self.actor).select_related("unit")
            self.members[member_no] = visible.filter(member_no=member_no).first()
        if self.members[member_no] is None:
            row.error("member_no", f"no member {member_no!r} in your units")
        return self.members[member_no]

    def _qualification(self, row: Row) -> Qualification | None:
        code = row.text("qualification", required=True)
        if not code:
            return None
        qualification = self.qualifications.get(code)
        if qualification is None:
            known = ", ".join(sorted(self.qualifications)[:12]) or "none yet"
            row.error("qualification", f"no qualification with code {code!r} (known: {known})")
        return qualification

    def write(self, parsed: dict) -> None:
        services.record_prior_service(actor=self.actor, **parsed)
