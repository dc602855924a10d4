"""Periodic roster jobs, run by `muster worker` (huey): warnings of vetting about to expire."""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from muster.core import notify
from muster.core.models import ExpiryWarning
from muster.members import scope
from muster.members.models import Account, Member, Role

log = logging.getLogger(__name__)


def warn_expiring_vetting(*, today: date | None = None, within_days: int | None = None) -> int:
    """Warn each active member whose vetting expires within `within_days` (MUSTER_EXPIRY_WARNING_DAYS) and the
    commanders of their unit and the units above it: once per expiry date. Returns how many warnings went out."""
    today = today or timezone.localdate()
    within_days = settings.MUSTER_EXPIRY_WARNING_DAYS if within_days is None else within_days
    members = list(
        Member.objects.filter(
            status=Member.Status.ACTIVE,
            vetting_valid_until__gte=today,
            vetting_valid_until__lte=today + timedelta(days=within_days),
        )
        .select_related("unit")
        .order_by("vetting_valid_until", "pk")
    )
    warned = notify.already_warned(ExpiryWarning.Kind.VETTING, [member.pk for member in members])
    accounts = dict(
        Account.objects.filter(member__in=members, is_active=True).values_list("member_id", "pk")
    )  # fmt: skip
    commanders: dict[int, list[int]] = {}
    sent = 0
    for member in members:
        expires = member.vetting_valid_until
        if (member.pk, "", expires) in warned:
            continue
        if member.unit_id not in commanders:
            commanders[member.unit_id] = scope.holders_of_role_over(member.unit, [Role.COMMANDER])
        own = [accounts[member.pk]] if member.pk in accounts else []
        days = (expires - today).days
        sent += notify.warn_once(
            notify.Expiry(
                kind=ExpiryWarning.Kind.VETTING,
                member_id=member.pk,
                subject_id="",
                expires_on=expires,
                recipients=own + commanders[member.unit_id],
                subject=f"Vetting expires {expires:%Y-%m-%d}: {member}",
                body=f"The vetting of {member} is valid until {expires:%Y-%m-%d} ({_in_days(days)}). Without a new "
                "vetting by then the member can no longer be issued controlled items.",
                url=reverse("member-page", args=[member.member_no]),
            )
        )
    return sent


def _in_days(days: int) -> str:
    return {0: "today", 1: "tomorrow"}.get(days, f"in {days} days")


@db_periodic_task(crontab(hour="5", minute="30"))
def warn_expiring_vetting_daily() -> int:
    """Every morning: warn members and their commanders of vetting expiring within MUSTER_EXPIRY_WARNING_DAYS."""
    sent = warn_expiring_vetting()
    if sent:
        log.info("sent %d vetting expiry warning(s)", sent)
    return sent
