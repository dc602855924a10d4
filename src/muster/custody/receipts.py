"""Printable custody papers: the hand receipt for one ledger event, and a member's current sub-hand receipt.

Text is set in Source Sans Pro, a TTF shipped by the `font-source-sans-pro` wheel (Latin with its extensions,
Cyrillic, Greek), so names print as written. Without that package, or for a character the font lacks, the text
falls back to the PDF core fonts, which only encode Latin-1: letters lose their accents, Ukrainian and Russian
Cyrillic is transliterated, anything else prints as "?". Hashes are set in the core Courier (they are hex).
"""

import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, OuterRef, Subquery
from django.utils import timezone
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from muster.custody import queries, queries_lots
from muster.custody.lot_models import LotBalance
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.members.models import Account, Member

try:  # an optional dependency in the sense that the papers still print without it (Latin-1 only)
    import font_source_sans_pro
except ImportError:  # pragma: no cover - exercised through unicode_fonts=False in the tests
    font_source_sans_pro = None

# fpdf2 subsets the TTF with fontTools, which logs every glyph table at INFO: noise in the server log per PDF.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

SANS = "muster-sans"
CORE_SANS = "helvetica"
MONO = "courier"
LABEL_WIDTH = 45  # mm, the left column of a field row

# Ukrainian and Russian letters, lower case, in the Ukrainian national transliteration (2010) where they differ.
_CYRILLIC = dict(zip(
    "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяёыэъ",
    ["a", "b", "v", "h", "g", "d", "e", "ie", "zh", "z", "y", "i", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s",
     "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "iu", "ia", "io", "y", "e", ""],
    strict=True,
))  # fmt: skip
# Letters and signs outside Latin-1 that have no decomposition to it.
_SPECIAL = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Œ": "OE", "œ": "oe", "—": "-", "–": "-", "…": "...", "’": "'",
            "‘": "'", "“": '"', "”": '"', "№": "No.", "€": "EUR"}  # fmt: skip


def latin1(text: str) -> str:
    """`text` in characters the core fonts can encode: accents dropped, Cyrillic transliterated, else "?"."""
    out = []
    for char in text:
        if ord(char) < 256 and char.isprintable():
            out.append(char)
        elif char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char.lower() in _CYRILLIC:
            latin = _CYRILLIC[char.lower()]
            out.append(latin.capitalize() if char.isupper() else latin)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


def local_time(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else "—"


def account_name(account: Account | None) -> str:
    if account is None:
        return "—"
    full = account.get_full_name()
    return f"{account.get_username()} ({full})" if full else account.get_username()


def member_line(member: Member) -> str:
    return f"{member.member_no} {member.full_name}, {member.unit.name} ({member.unit.code})"


def holder_line(kind: str | None, armory, member, nobody: str = "— (newly registered)") -> str:
    if kind is None:
        return nobody
    if kind == HolderKind.ARMORY:
        return f"Armory {armory.name} ({armory.code})"
    return f"Member {member_line(member)}"


class MusterPDF(FPDF):
    """An A4 page with the Muster footer (who printed it, when, page n of m) and a few layout helpers."""

    def __init__(self, *, title: str, printed_by: Account, printed_at: datetime | None = None, unicode_fonts=True):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.unicode = bool(unicode_fonts and font_source_sans_pro is not None)
        if self.unicode:
            files = font_source_sans_pro.font_files_ttf
            self.add_font(SANS, "", files["SourceSansPro"])
            self.add_font(SANS, "B", files["SourceSansProBold"])
        self.sans = SANS if self.unicode else CORE_SANS
        self.printed_line = f"Printed {local_time(printed_at or timezone.now())} by {account_name(printed_by)}"
        self.set_title(title)
        self.set_creator("Muster")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)

    def clean(self, text) -> str:
        """Text the current font can draw (see the module docstring)."""
        text = "" if text is None else str(text)
        if not self.unicode or self.font_family != SANS:
            return latin1(text)
        cmap = self.current_font.cmap
        return "".join(char if ord(char) in cmap or char in "\n\t" else latin1(char) for char in text)

    def use(self, style: str = "", size: float = 10) -> None:
        self.set_font(self.sans, style, size)

    def footer(self) -> None:
        self.set_y(-13)
        self.use("", 7.5)
        self.cell(0, 4, self.clean(f"Muster — {self.printed_line}"), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    def title_block(self, title: str, subtitle: str = "") -> None:
        self.use("B", 16)
        self.multi_cell(0, 8, self.clean(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if subtitle:
            self.use("", 10)
            self.multi_cell(0, 5, self.clean(subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def heading(self, text: str) -> None:
        self.ln(2)
        self.use("B", 11)
        self.cell(0, 6, self.clean(text), border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def field(self, label: str, value, *, mono: bool = False) -> None:
        self.use("B", 9)
        self.cell(LABEL_WIDTH, 5, self.clean(label))
        if mono:
            self.set_font(MONO, "", 8)
        else:
            self.use("", 10)
        self.multi_cell(0, 5, self.clean(value if value not in (None, "") else "—"), new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)  # fmt: skip

    def paragraph(self, text: str, size: float = 10) -> None:
        self.use("", size)
        self.multi_cell(0, 5, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def signatures(self, parties: list[tuple[str, str]]) -> None:
        """Side by side signature boxes: role on top, a line to sign on, the printed name and a date line below."""
        if self.will_page_break(32):
            self.add_page()
        self.ln(6)
        width = (self.epw - 10 * (len(parties) - 1)) / len(parties)
        top = self.get_y()
        for index, (role, name) in enumerate(parties):
            x = self.l_margin + index * (width + 10)
            self.set_xy(x, top)
            self.use("B", 9)
            self.cell(width, 5, self.clean(role))
            self.line(x, top + 18, x + width, top + 18)
            self.set_xy(x, top + 19)
            self.use("", 8.5)
            self.multi_cell(width, 4, self.clean(f"Signature — {name}\nDate: ____________________"))
        self.set_xy(self.l_margin, top + 32)

    def to_bytes(self) -> bytes:
        return bytes(self.output())


# --- one ledger event ----------------------------------------------------------------------------------------------

EVENT_RELATED = ("item__item_type", "item__home_armory__unit", "lot__item_type", "lot__home_armory__unit",
                 "from_armory", "to_armory", "from_member__unit", "to_member__unit", "actor")  # fmt: skip


def find_event(account: Account, seq: int) -> LedgerEvent | None:
    return queries.visible_events(account).select_related(*EVENT_RELATED).filter(seq=seq).first()


def confirmation_facts(event: LedgerEvent) -> list[tuple[str, str]]:
    """What event.data records about PIN confirmations and a commander's override, as (label, text) rows."""
    data = event.data or {}
    facts = []
    parties = {event.from_member_id: event.from_member, event.to_member_id: event.to_member}
    for key, label in (("giver_confirmed", "Giver confirmed"), ("receiver_confirmed", "Receiver confirmed")):
        confirmed = data.get(key)
        if confirmed:
            member = parties.get(confirmed.get("member"))
            who = f"{member.member_no} {member.full_name}" if member else f"member id {confirmed.get('member')}"
            facts.append((label, f"{who}, by {confirmed.get('method', 'PIN').upper()}"))
    override = data.get("override")
    if override:
        commander = Account.objects.filter(pk=override.get("commander")).first()
        facts.append(("Commander override", f"countersigned by {account_name(commander)}"))
        facts.append(("Overridden refusals", ", ".join(override.get("codes", [])) or "—"))
        facts.append(("Override reason", override.get("reason", "")))
    if not facts:
        facts.append(("Confirmation", "no PIN confirmation or override recorded for this event"))
    return facts


def signature_parties(event: LedgerEvent) -> list[tuple[str, str]]:
    def party(kind, armory, member, role):
        if kind == HolderKind.MEMBER:
            return (f"{role}: member", f"{member.full_name} ({member.member_no})")
        return (f"{role}: armorer for {armory.code}", "name: ____________________")

    if event.kind == LedgerEvent.Kind.REGISTER:
        return [("Registered by", account_name(event.actor)), ("Witness", "name: ____________________")]
    if event.lot_id and event.from_kind is None:  # a delivery or a recovery into a store
        return [("Delivered by", "name: ____________________"),
                party(event.to_kind, event.to_armory, event.to_member, "Received by")]  # fmt: skip
    if event.lot_id and event.to_kind is None:  # expended or lost: off the books
        return [party(event.from_kind, event.from_armory, event.from_member, "Accounted for by"),
                ("Recorded by", account_name(event.actor))]  # fmt: skip
    if (
        event.from_kind == event.to_kind
        and event.from_armory_id == event.to_armory_id
        and (event.from_member_id == event.to_member_id)
    ):  # a loss report: the holder does not change, nobody hands anything over
        return [
            party(event.to_kind, event.to_armory, event.to_member, "Holder"),
            ("Recorded by", account_name(event.actor)),
        ]
    return [
        party(event.from_kind, event.from_armory, event.from_member, "Handed over by"),
        party(event.to_kind, event.to_armory, event.to_member, "Received by"),
    ]


def event_receipt(event: LedgerEvent, *, printed_by: Account, now: datetime | None = None, unicode_fonts=True) -> bytes:
    """The hand receipt for one ledger event (load it with find_event, so its parties come in one query)."""
    subject = event.item or event.lot
    armory = subject.home_armory
    pdf = MusterPDF(title=f"Hand receipt #{event.seq}", printed_by=printed_by, printed_at=now,
                    unicode_fonts=unicode_fonts)  # fmt: skip
    pdf.add_page()
    pdf.title_block(
        f"Hand receipt — {event.get_kind_display()} (ledger #{event.seq})",
        f"{armory.unit.name} ({armory.unit.code}) · {armory.name} ({armory.code})"
        + (f" · {armory.address}" if armory.address else ""),
    )
    if event.lot_id:
        pdf.heading("Lot")
        pdf.field("Type", f"{subject.item_type.name} ({subject.item_type.get_category_display()})")
        pdf.field("Calibre", subject.item_type.calibre)
        pdf.field("Lot number", subject.lot_number)
        pdf.field("Quantity", f"{event.quantity:,}")
        expended = (event.data or {}).get("expended")
        if expended:
            reason = expended.get("justification", "").replace("_", " ")
            pdf.field("Expended for", f"{reason} {expended.get('reference', '')}")
    else:
        item = subject
        pdf.heading("Item")
        pdf.field("Type", f"{item.item_type.name} ({item.item_type.get_category_display()})")
        pdf.field("Model", item.item_type.model)
        pdf.field("Calibre", item.item_type.calibre)
        pdf.field("Serial number", item.serial_number)
        pdf.field("Markings", item.markings)
        made = " ".join(str(part) for part in (item.manufacturer, item.year_of_manufacture) if part)
        pdf.field("Manufacturer", made)
    pdf.heading("Handover")
    pdf.field("From", holder_line(event.from_kind, event.from_armory, event.from_member,
                                  "— (a delivery)" if event.lot_id else "— (newly registered)"))  # fmt: skip
    pdf.field("To", holder_line(event.to_kind, event.to_armory, event.to_member, "— (expended or lost: off the books)"))
    pdf.field("Recorded by", account_name(event.actor))
    pdf.field("Recorded at", local_time(event.recorded_at))
    pdf.field("Due back", local_time(event.due_at))
    pdf.field("Reason", event.reason)
    for label, text in confirmation_facts(event):
        pdf.field(label, text)
    pdf.heading("Ledger")
    pdf.field("Sequence number", f"{event.seq} ({'lot' if event.lot_id else 'item'} event {event.item_version})")
    pdf.field("Event hash", event.hash, mono=True)
    pdf.field("Previous hash", event.prev_hash, mono=True)
    pdf.paragraph(
        "The hashes let anyone check this receipt against the custody ledger (muster ledger verify).", size=8.5
    )
    pdf.signatures(signature_parties(event))
    return pdf.to_bytes()


# --- a member's current holdings -----------------------------------------------------------------------------------


def lot_rows(pdf: MusterPDF, holdings: "Holdings") -> None:
    """The lots section of the sub-hand receipt: lot number, type, quantity, due back, the issue that gave them."""
    pdf.heading(f"Ammunition and consumables held, by lot ({len(holdings.lots)})")
    if holdings.lots:
        pdf.use("", 8.5)
        widths = (8, 34, 50, 20, 32, 36)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5) as table:
            table.row([pdf.clean(text) for text in ("#", "Lot number", "Type", "Quantity", "Due back", "Issued")])
            for number, row in enumerate(holdings.lots, start=1):
                lot = row.balance.lot
                issued = f"#{row.issue_seq} lot issue, {local_time(row.issued_at)}" if row.issue_seq else "—"
                table.row([pdf.clean(text) for text in (
                    str(number),
                    lot.lot_number,
                    f"{lot.item_type.name} ({lot.home_armory.code})",
                    f"{row.balance.quantity:,}",
                    local_time(row.balance.due_at),
                    issued,
                )])  # fmt: skip
    else:
        pdf.paragraph("The member holds no ammunition or consumables.")
    if holdings.lots_not_listed:
        pdf.paragraph(
            f"The member also holds some of {holdings.lots_not_listed} lot(s) homed outside the units of the person "
            "who printed this receipt; they are not listed here.",
            size=8.5,
        )


@dataclass(frozen=True)
class Holding:
    item: Item
    event: LedgerEvent | None  # the event that put the item in the member's hands


@dataclass(frozen=True)
class LotHolding:
    """A quantity of a lot the member holds, with the latest issue of that lot to them (the balance may add up
    several issues; its due-back time is the latest of theirs)."""

    balance: LotBalance
    issue_seq: int | None
    issued_at: datetime | None


@dataclass(frozen=True)
class Holdings:
    member: Member
    rows: list[Holding]
    not_listed: int  # items the member holds that are homed outside the reader's units (counted, not shown)
    lots: list[LotHolding] = field(default_factory=list)
    lots_not_listed: int = 0  # lots ditto


def member_holdings(account: Account, member: Member) -> Holdings:
    """What the member holds now, as far as the account may see it: each item with the event that gave it to them,
    each lot quantity with the latest issue of that lot to them.

    Five queries whatever the number of items and lots. The latest event of an item the member holds is the one
    that put it in their hands (its item_version equals the item's custody_version)."""
    items = list(
        queries.visible_items(account)
        .filter(holder_kind=HolderKind.MEMBER, holder_member=member)
        .select_related("item_type", "home_armory")
        .order_by("item_type__name", "serial_number")
    )
    events = LedgerEvent.objects.filter(item__in=items, item_version=F("item__custody_version"))
    by_item = {event.item_id: event for event in events}
    total = Item.objects.filter(holder_kind=HolderKind.MEMBER, holder_member=member).count()
    latest_issue = LedgerEvent.objects.filter(
        lot=OuterRef("lot_id"), kind=LedgerEvent.Kind.LOT_ISSUE, to_member=OuterRef("holder_member_id")
    ).order_by("-seq")
    held_lots = queries_lots.held_by_member(member.pk)
    balances = list(
        held_lots.filter(lot__in=queries_lots.visible_lots(account).values("pk"))
        .annotate(
            issue_seq=Subquery(latest_issue.values("seq")[:1]),
            issued_at=Subquery(latest_issue.values("recorded_at")[:1]),
        )
        .select_related("lot__item_type", "lot__home_armory")
        .order_by("lot__item_type__name", "lot__lot_number")
    )
    lot_rows = [LotHolding(balance, balance.issue_seq, balance.issued_at) for balance in balances]
    lots_total = held_lots.count()
    return Holdings(
        member,
        [Holding(item, by_item.get(item.pk)) for item in items],
        total - len(items),
        lots=lot_rows,
        lots_not_listed=lots_total - len(lot_rows),
    )


def member_hand_receipt(holdings: Holdings, *, printed_by: Account, now: datetime | None = None,
                        unicode_fonts=True) -> bytes:  # fmt: skip
    member = holdings.member
    pdf = MusterPDF(title=f"Hand receipt {member.member_no}", printed_by=printed_by, printed_at=now,
                    unicode_fonts=unicode_fonts)  # fmt: skip
    pdf.add_page()
    pdf.title_block(f"Sub-hand receipt — {member.full_name}", f"{member.unit.name} ({member.unit.code})")
    pdf.heading("Member")
    pdf.field("Member number", member.member_no)
    pdf.field("Name", member.full_name)
    pdf.field("Unit", f"{member.unit.name} ({member.unit.code})")
    pdf.field("Status", member.get_status_display())
    pdf.heading(f"Items held ({len(holdings.rows)})")
    if holdings.rows:
        pdf.use("", 8.5)
        widths = (8, 30, 52, 32, 32, 26)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5) as table:
            table.row([pdf.clean(text) for text in ("#", "Serial", "Type", "Issued at", "Due back", "Ledger")])
            for number, holding in enumerate(holdings.rows, start=1):
                event = holding.event
                table.row([pdf.clean(text) for text in (
                    str(number),
                    holding.item.serial_number,
                    f"{holding.item.item_type.name} ({holding.item.home_armory.code})",
                    local_time(event.recorded_at) if event else "—",
                    local_time(holding.item.due_at),
                    f"#{event.seq} {event.get_kind_display().lower()}" if event else "—",
                )])  # fmt: skip
    else:
        pdf.paragraph("The member holds no items.")
    if holdings.not_listed:
        pdf.paragraph(
            f"The member also holds {holdings.not_listed} item(s) homed outside the units of the person who printed "
            "this receipt; they are not listed here.",
            size=8.5,
        )
    lot_rows(pdf, holdings)
    pdf.ln(4)
    count = len(holdings.rows)
    if holdings.lots:
        statement = (
            f"I, {member.full_name} ({member.member_no}), acknowledge that I hold the {count} item(s) and the "
            f"quantities of the {len(holdings.lots)} lot(s) listed above in my personal custody, that I have checked "
            "their serial numbers, lot numbers and quantities, and that I will keep them safe and return them when "
            "due or on demand, or account for what was expended."
        )
    else:
        statement = (
            f"I, {member.full_name} ({member.member_no}), acknowledge that I hold the {count} item(s) listed above in "
            "my personal custody, that I have checked their serial numbers, and that I will keep them safe and return "
            "them when due or on demand."
        )
    pdf.paragraph(statement)
    pdf.signatures([("Member", f"{member.full_name} ({member.member_no})"), ("Armorer", "name: ____________________")])
    return pdf.to_bytes()
