"""Reads about qualifications: what a member holds now, and who expires soon."""

from datetime import date, timedelta

from django.db.models import Max, QuerySet
from django.utils import timezone

from muster.members.models import Member
from muster.training.models import MemberQualification


def current_expiries(member: Member) -> dict[int, date]:
    """qualification id → latest expiry date among the member's grants (expired ones included)."""
    rows = (
        MemberQualification.objects.filter(member=member)
        .values("qualification_id")
        .annotate(expires=Max("expires_on"))
        .values_list("qualification_id", "expires")
    )
    return dict(rows)


def missing_qualifications(member: Member, required: list, valid_through: date) -> list:
    """The required qualifications the member does not hold valid through `valid_through` (inclusive)."""
    expiries = current_expiries(member)
    return [qualification for qualification in required if expiries.get(qualification.pk, date.min) < valid_through]


def expiring(members: QuerySet[Member], *, within_days: int, today: date | None = None) -> QuerySet:
    """Latest grant per (member, qualification) whose expiry falls from `today` to `today + within_days`.

    Rows: member id, qualification id, expires (the latest expiry), for members in `members`.
    """
    today = today or timezone.localdate()
    latest = (
        MemberQualification.objects.filter(member__in=members)
        .values("member_id", "qualification_id")
        .annotate(expires=Max("expires_on"))
    )
    return latest.filter(expires__gte=today, expires__lte=today + timedelta(days=within_days)).order_by("expires")
