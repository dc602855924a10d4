"""Periodic training jobs, run by `muster worker` (huey): warnings of qualifications about to expire."""

import logging
from datetime import date

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from muster.core import notify
from muster.core.models import ExpiryWarning
from muster.members import scope
from muster.members.models import Account, Member, Role
from muster.training import queries
from muster.training.models import Qualification


def warn_expiring_qualifications(*, today: date | None = None, within_days: int | None = None) -> int:
    """Warn each active member whose qualification (its latest grant) expires within `within_days`
    (MUSTER_EXPIRY_WARNING_DAYS), and the commanders of their unit and the units above it: once per expiry date,
    so a renewal brings a new warning in time and a repeated run none. Returns how many warnings went out."""
    today = today or timezone.localdate()
    within_days = settings.MUSTER_EXPIRY_WARNING_DAYS if within_days is None else within_days
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    rows = list(queries.expiring(active, within_days=within_days, today=today).order_by("expires", "member_id"))
    member_ids = {row["member_id"] for row in rows}
    warned = notify.already_warned(ExpiryWarning.Kind.QUALIFICATION, member_ids)
    rows = [row for row in rows if (row["member_id"], str(row["qualification_id"]), row["expires"]) not in warned]
    members = Member.objects.select_related("unit").in_bulk({row["member_id"] for row in rows})
    qualifications = Qualification.objects.in_bulk({row["qualification_id"] for row in rows})
    accounts = dict(Account.objects.filter(member_id__in=list(members), is_active=True).values_list("member_id", "pk"))
    commanders: dict[int, list[int]] = {}
    sent = 0
    for row in rows:
        member, qualification, expires = (
            members[row["member_id"]],
            qualifications[row["qualification_id"]],
            row["expires"],
        )
        if member.unit_id not in commanders:
            commanders[member.unit_id] = scope.holders_of_role_over(member.unit, [Role.COMMANDER])
        own = [accounts[member.pk]] if member.pk in accounts else []
        days = (expires - today).days
        sent += notify.warn_once(
            notify.Expiry(
                kind=ExpiryWarning.Kind.QUALIFICATION,
                member_id=member.pk,
                subject_id=str(qualification.pk),
                expires_on=expires,
                recipients=own + commanders[member.unit_id],
                subject=f"{qualification} expires {expires:%Y-%m-%d}: {member}",
                body=f"{member}'s qualification {qualification} is valid until {expires:%Y-%m-%d} "
                f"({_in_days(days)}). Book a refresher: items that need it cannot be issued after that day.",
                url=reverse("member-page", args=[member.member_no]),
            )
        )
    return sent


def _in_days(days: int) -> str:
    return {0: "today", 1: "tomorrow"}.get(days, f"in {days} days")


@db_periodic_task(crontab(hour="5", minute="35"))
def warn_expiring_qualifications_daily() -> int:
    """Every morning: warn members and their commanders of qualifications expiring within
    MUSTER_EXPIRY_WARNING_DAYS."""
    sent = warn_expiring_qualifications()
    if sent:
        logging.getLogger(__name__).info("sent %d qualification expiry warning(s)", sent)
    return sent
