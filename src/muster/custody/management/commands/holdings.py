"""`muster holdings [MEMBER_NO]`: what members hold right now. Read-only; an operator tool on the server."""

import csv
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.members.models import Member

CSV_COLUMNS = ("member_no", "member", "unit", "serial_number", "item_type", "since", "due_at", "overdue")


def issued_items() -> QuerySet[Item]:
    """Every item held by a member, with `since`: the time of the event that put it in their hands."""
    since = LedgerEvent.objects.filter(item=OuterRef("pk"), item_version=OuterRef("custody_version"))
    return (
        Item.objects.filter(holder_kind=HolderKind.MEMBER)
        .select_related("item_type", "holder_member__unit")
        .annotate(since=Subquery(since.values("recorded_at")[:1]))
        .order_by("holder_member__last_name", "holder_member__first_name", "holder_member__member_no", "due_at")
    )


def _local(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


class Command(BaseCommand):
    help = "List what a member holds now, or every issued item grouped by member. Read-only."

    def add_arguments(self, parser) -> None:
        parser.add_argument("member_no", nargs="?", metavar="MEMBER_NO", help="only this member's holdings")
        parser.add_argument("--format", choices=["text", "csv"], default="text")

    def handle(self, *args, **options) -> None:
        items = issued_items()
        member = None
        if options["member_no"]:
            member = Member.objects.filter(member_no=options["member_no"].strip()).first()
            if member is None:
                raise CommandError(f"No member with number {options['member_no']!r}.", returncode=5)
            items = items.filter(holder_member=member)
        now = timezone.now()
        if options["format"] == "csv":
            self._csv(items, now)
        else:
            self._text(items, now, member)

    def _csv(self, items: QuerySet[Item], now: datetime) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for item in items:
            holder = item.holder_member
            writer.writerow([
                holder.member_no, holder.full_name, holder.unit.code, item.serial_number, item.item_type.name,
                item.since.isoformat() if item.since else "", item.due_at.isoformat() if item.due_at else "",
                "yes" if item.due_at and item.due_at < now else "no",
            ])  # fmt: skip

    def _text(self, items: QuerySet[Item], now: datetime, member: Member | None) -> None:
        rows_by_member: dict[int, list[Item]] = {}
        for item in items:
            rows_by_member.setdefault(item.holder_member_id, []).append(item)
        if not rows_by_member:
            self.stdout.write(
                f"{member.full_name} ({member.member_no}) holds nothing." if member else "Nothing is issued."
            )
            return
        width_serial = max(len("SERIAL"), *(len(i.serial_number) for rows in rows_by_member.values() for i in rows))
        width_type = max(len("TYPE"), *(len(i.item_type.name) for rows in rows_by_member.values() for i in rows))
        header = f"  {'SERIAL':<{width_serial}}  {'TYPE':<{width_type}}  {'SINCE':<16}  DUE BACK"
        for rows in rows_by_member.values():
            holder = rows[0].holder_member
            self.stdout.write(f"{holder.member_no}  {holder.full_name}  ({holder.unit.code})  {len(rows)} item(s)")
            self.stdout.write(header)
            for item in rows:
                overdue = "  OVERDUE" if item.due_at and item.due_at < now else ""
                self.stdout.write(
                    f"  {item.serial_number:<{width_serial}}  {item.item_type.name:<{width_type}}  "
                    f"{_local(item.since):<16}  {_local(item.due_at)}{overdue}"
                )
