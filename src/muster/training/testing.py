"""Test helpers for training: qualifications, courses and grants."""

from datetime import date, timedelta

from django.utils import timezone

from muster.members.models import Account, Member
from muster.training.models import Course, MemberQualification, Qualification


def make_qualification(code: str = "rifle-ak", *, name: str = "", validity_days: int = 365) -> Qualification:
    qualification, _ = Qualification.objects.get_or_create(
        code=code, defaults={"name": name or f"Qualification {code}", "validity_days": validity_days}
    )
    return qualification


def make_course(code: str, *, grants: list[Qualification], validity_days: int | None = None) -> Course:
    course = Course.objects.create(code=code, name=f"Course {code}", validity_days=validity_days)
    course.grants.set(grants)
    return course


def qualify(member: Member, qualification: Qualification, by: Account, *, days_left: int = 200) -> MemberQualification:
    expires = timezone.localdate() + timedelta(days=days_left)
    return MemberQualification.objects.create(
        member=member,
        qualification=qualification,
        granted_on=min(expires - timedelta(days=1), timezone.localdate()) - timedelta(days=30),
        expires_on=expires,
        source=MemberQualification.Source.PRIOR_SERVICE,
        evidence="test record",
        granted_by=by,
    )


def today() -> date:
    return timezone.localdate()
