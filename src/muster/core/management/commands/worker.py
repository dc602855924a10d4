"""`muster worker`: runs the background jobs (huey's consumer with the periodic jobs of every app's tasks.py).

Queued right after a change commits: notification e-mail, webhook deliveries. Periodic: notification e-mail and
webhook retries, recall scans, overdue-item, loss-case and count-discrepancy escalation, scheduled counts, the
hourly ledger checkpoint, and the daily vetting and qualification expiry warnings. `muster worker --list` prints
them from the code.
"""

import inspect
import logging

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.module_loading import autodiscover_modules

HELP = (
    "Run Muster's background worker until stopped: it sends notification e-mail and webhooks (queued after each "
    "change, retried every few minutes), scans for recalls (every 15 minutes), escalates overdue items, loss cases "
    "and unresolved count discrepancies, makes scheduled counts due (daily), signs a ledger checkpoint (hourly) and "
    "warns of expiring vetting and qualifications (daily). --list prints every job."
)


def jobs() -> list[tuple[str, bool, str]]:
    """(task name, periodic?, first line of its description) for every job of the apps' tasks modules."""
    from huey.contrib.djhuey import HUEY

    autodiscover_modules("tasks")
    found = []
    for name, task_class in sorted(HUEY._registry._registry.items()):
        doc = inspect.cleandoc(task_class.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        found.append((name, hasattr(task_class, "validate_datetime"), doc))
    return found


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=None, help="worker threads (default: MUSTER_WORKERS or 2)")
        parser.add_argument("--list", action="store_true", help="list the jobs the worker runs, and exit")

    def handle(self, *args, **options):
        if options["list"]:
            for name, periodic, doc in jobs():
                kind = "periodic" if periodic else "queued  "
                self.stdout.write(f"{kind}  {name}{'  — ' + doc if doc else ''}")
            return
        extra = ["--workers", str(options["workers"])] if options["workers"] else []
        # run_huey gives the "huey" logger a handler of its own (time, level, thread) when it has none, and its
        # records then also reached the root logger's console handler (settings.LOGGING): every line twice. Keep
        # huey's handler, which says more, and stop the records there.
        logging.getLogger("huey").propagate = False
        call_command("run_huey", *extra)
