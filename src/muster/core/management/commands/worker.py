"""`muster worker`: runs the background jobs (periodic recall scans and, later, overdue and count reminders)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run Muster's background worker (huey consumer with its periodic jobs) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=None, help="worker threads (default: MUSTER_WORKERS or 2)")

    def handle(self, *args, **options):
        extra = ["--workers", str(options["workers"])] if options["workers"] else []
        call_command("run_huey", *extra)
