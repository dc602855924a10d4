"""Core background jobs, run by `muster worker`."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def deliver_webhooks() -> dict:
    from muster.core import webhooks

    return webhooks.deliver_pending()


@db_periodic_task(crontab(minute="*"))
def retry_webhooks() -> dict:
    from muster.core import webhooks

    return webhooks.deliver_pending()
