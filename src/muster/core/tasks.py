"""Core background jobs, run by `muster worker`: e-mail for notifications and outgoing webhooks.

Both are queued right after the transaction that caused them commits (a "nudge") and swept by a periodic job,
which retries failures with backoff and picks up anything whose nudge was lost. Every delivery is claimed before it
is sent, so the nudge and the sweep running on two worker threads never send the same one twice.
"""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def send_notification_emails(notification_ids: list[int]) -> dict:
    """E-mail these notifications: queued when the change that caused them commits."""
    from muster.core import notify

    return notify.send_emails(notification_ids)


@db_periodic_task(crontab(minute="*/5"))
def retry_notification_emails() -> dict:
    """E-mail whatever is due: retries after a failure, and mail whose task never reached the queue."""
    from muster.core import notify

    return notify.send_emails()


@db_task()
def deliver_webhooks() -> dict:
    """Post the webhook deliveries that are due: queued when a change that emits an event commits."""
    from muster.core import webhooks

    return webhooks.deliver_pending()


@db_periodic_task(crontab(minute="*"))
def retry_webhooks() -> dict:
    """Post the webhook deliveries that are due: retries with backoff, and deliveries whose nudge was lost."""
    from muster.core import webhooks

    return webhooks.deliver_pending()
