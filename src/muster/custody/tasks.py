"""Periodic custody jobs, run by `muster worker` (huey)."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from muster.custody import recalls

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/15"))
def scan_for_recalls() -> int:
    """Find issued items whose holder's vetting, qualification or status lapsed since the last scan."""
    found = recalls.scan()
    if found:
        log.info("opened %d recall(s)", len(found))
    return len(found)


@db_periodic_task(crontab(minute="0"))
def hourly_checkpoint() -> int | None:
    """Sign the ledger head every hour, once a signing key exists (`muster ledger keygen`)."""
    from muster.custody import checkpoints

    if not checkpoints.key_path().exists():
        return None
    return checkpoints.make_checkpoint().size


@db_periodic_task(crontab(minute="*/10"))
def escalate_loss_cases() -> int:
    """Loss cases past their reporting deadline go up the chain of command."""
    from muster.custody import losses

    return len(losses.escalate_overdue())


@db_periodic_task(crontab(minute="*/10"))
def escalate_overdue_items() -> dict:
    """Overdue items: notify armorers, then commanders after MUSTER_OVERDUE_ESCALATION_HOURS."""
    from muster.custody import overdue

    return overdue.scan()


@db_periodic_task(crontab(hour="6", minute="0"))
def schedule_counts() -> int:
    """Make scheduled counts due (and remind the armorers) every morning."""
    from muster.custody import counts

    return len(counts.schedule())


@db_periodic_task(crontab(minute="20"))
def remind_unresolved_discrepancies() -> dict:
    """Count discrepancies left unresolved: remind the armorers after MUSTER_DISCREPANCY_REMINDER_HOURS (default 24),
    the commanders after twice that; each once per discrepancy."""
    from muster.custody import counts

    return counts.remind_unresolved()


@db_periodic_task(crontab(minute="10", hour="*"))
def count_yesterdays_day_nets() -> int:
    """Keep yesterday's net of items out per armory for the dashboard's chart.

    A dashboard would count a missing day itself on first use; this keeps that work off the first reader's request.
    Hourly, because local midnight may fall at any UTC hour: the first run after it counts, the others find it done.
    """
    from datetime import timedelta

    from django.utils import timezone

    from muster.custody import tallies
    from muster.custody.models import Armory

    yesterday = timezone.localdate() - timedelta(days=1)
    tallies.day_nets(Armory.objects.none(), yesterday, timezone.now())
    return 1
