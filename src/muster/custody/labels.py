"""QR label sheets: item labels for an armory's shelves and member badges, 3 × 8 to an A4 sheet.

The QR code holds exactly what the counter's keyboard-wedge scanner must type into the issue form: the item's
serial number, or the member's number, as plain text, nothing around it. The same text is printed under the code
for people and for when a scanner fails.
"""

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import segno
from fpdf.enums import XPos, YPos

from muster.custody.models import Armory, Item
from muster.custody.receipts import MusterPDF
from muster.members.models import Account, Member, Unit


@dataclass(frozen=True)
class Layout:
    """Label stock: Avery 3474 and its equivalents, 70 × 37 mm, 3 across and 8 down, no side margins."""

    columns: int = 3
    rows: int = 8
    width: float = 70
    height: float = 37
    left: float = 0
    top: float = 0.5
    padding: float = 2
    qr_size: float = 32  # quiet zone included

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


A4_3x8 = Layout()
QUIET_ZONE = 4  # modules of white around the code


@dataclass(frozen=True)
class Label:
    payload: str  # what the QR code holds, exactly
    lines: tuple[str, ...]  # printed beside the code; the first in bold (it repeats the payload)


def item_labels(items: Iterable[Item]) -> list[Label]:
    """One label per item; load items with select_related("item_type", "home_armory")."""
    return [
        Label(payload=item.serial_number, lines=(item.serial_number, item.item_type.name, item.home_armory.code))
        for item in items
    ]


def badge_labels(members: Iterable[Member]) -> list[Label]:
    """One badge per member; load members with select_related("unit")."""
    return [Label(payload=member.member_no, lines=(member.member_no, member.full_name, member.unit.code))
            for member in members]  # fmt: skip


def qr_png(payload: str) -> bytes:
    """The QR code as a black-and-white PNG, 8 pixels a module so printers and viewers keep the edges sharp, with
    the standard quiet zone of 4 modules (scanners need it to find the code)."""
    buffer = io.BytesIO()
    # micro=False: phone apps and many handheld scanners do not read Micro QR.
    segno.make(payload, error="m", micro=False).save(buffer, kind="png", scale=8, border=QUIET_ZONE)
    return buffer.getvalue()


class SheetPDF(MusterPDF):
    def footer(self) -> None:
        """Label stock has no room for a footer."""


def label_sheet(
    labels: list[Label],
    *,
    title: str,
    printed_by: Account,
    now: datetime | None = None,
    layout: Layout = A4_3x8,
    qr: Callable[[str], bytes] = qr_png,
    unicode_fonts=True,
) -> bytes:
    pdf = SheetPDF(title=title, printed_by=printed_by, printed_at=now, unicode_fonts=unicode_fonts)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    if not labels:
        pdf.add_page()
        pdf.set_xy(15, 15)
        pdf.paragraph(f"{title}: nothing to print.")
    for index, label in enumerate(labels):
        slot = index % layout.per_page
        if slot == 0:
            pdf.add_page()
        x = layout.left + (slot % layout.columns) * layout.width
        y = layout.top + (slot // layout.columns) * layout.height
        draw_label(pdf, label, x, y, layout, qr)
    return pdf.to_bytes()


def draw_label(pdf: MusterPDF, label: Label, x: float, y: float, layout: Layout, qr: Callable[[str], bytes]) -> None:
    pad = layout.padding
    qr_top = y + (layout.height - layout.qr_size) / 2
    pdf.image(io.BytesIO(qr(label.payload)), x=x + pad, y=qr_top, w=layout.qr_size, h=layout.qr_size)
    text_x = x + pad + layout.qr_size  # the quiet zone is the gap
    text_width = layout.width - (text_x - x) - pad
    pdf.set_xy(text_x, qr_top + 3.5)  # level with the code, below its quiet zone
    for number, line in enumerate(label.lines):
        pdf.use("B" if number == 0 else "", 10 if number == 0 else 8)
        pdf.set_x(text_x)
        # At most two lines each, so a long type name cannot run into the next label.
        pdf.multi_cell(text_width, 4, fit(pdf, line, text_width * 2 - 2), align="L", new_x=XPos.LEFT,
                       new_y=YPos.NEXT)  # fmt: skip
        pdf.set_y(pdf.get_y() + 0.8)


def fit(pdf: MusterPDF, text: str, width: float) -> str:
    """The text, cut with an ellipsis to fit `width` mm in the current font."""
    text = pdf.clean(text)
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text + "..."


# --- what goes on the sheets ---------------------------------------------------------------------------------------


def armory_sheet(items, armory: Armory, *, printed_by: Account, **options) -> bytes:
    """Labels for `items` (a queryset already filtered and scoped): one query, with their types and armory."""
    rows = items.select_related("item_type", "home_armory").order_by("item_type__name", "serial_number")
    return label_sheet(item_labels(rows), title=f"Item labels {armory.code}", printed_by=printed_by, **options)


def badge_sheet(members, unit: Unit, *, printed_by: Account, **options) -> bytes:
    rows = members.select_related("unit").order_by("unit__path", "last_name", "first_name", "member_no")
    return label_sheet(badge_labels(rows), title=f"Member badges {unit.code}", printed_by=printed_by, **options)
