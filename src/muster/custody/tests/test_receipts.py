"""Hand receipts: one ledger event, and a member's current holdings; web and API, scoped like the pages.

The PDFs are read back with `pdf_text`, a small reader of what fpdf2 writes (Flate streams, Type0 fonts with a
ToUnicode map, core fonts in Latin-1), so the tests assert what is really printed, not only the status code.
"""

import re
import zlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.testing import PASSWORD, make_member
from muster.custody import handover, receipts, services
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item

# --- reading a PDF back --------------------------------------------------------------------------------------------

_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


def _objects(data: bytes) -> dict[int, bytes]:
    return {int(number): body for number, body in re.findall(rb"(\d+) 0 obj\s(.*?)\sendobj", data, re.S)}


def _stream(body: bytes) -> bytes:
    length = int(re.search(rb"/Length (\d+)", body).group(1))
    start = re.search(rb"stream\r?\n", body).end()
    raw = body[start : start + length]
    return zlib.decompress(raw) if b"/FlateDecode" in body else raw


def _unescape(literal: bytes) -> bytes:
    def replace(match):
        escaped = match.group(1)
        return bytes([int(escaped, 8)]) if escaped[:1].isdigit() else _ESCAPES.get(escaped, escaped)

    return re.sub(rb"\\([0-7]{1,3}|.)", replace, literal, flags=re.S)


def _to_unicode(cmap: bytes) -> dict[int, str]:
    mapping = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for source, target in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(source, 16)] = bytes.fromhex(target.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, target in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            for offset in range(int(high, 16) - int(low, 16) + 1):
                mapping[int(low, 16) + offset] = chr(int(target, 16) + offset)
    return mapping


def pdf_text(data: bytes) -> str:
    """The text drawn on every page, one line per text-showing operation."""
    objects = _objects(data)
    fonts: dict[bytes, dict[int, str] | None] = {}
    for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", data):
        unicode_ref = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(number)])
        fonts[name] = _to_unicode(_stream(objects[int(unicode_ref.group(1))])) if unicode_ref else None
    lines = []
    string = rb"\((?:\\.|[^\\)])*\)"
    for number in re.findall(rb"/Contents (\d+) 0 R", data):
        font = None
        content = _stream(objects[int(number)])
        for match in re.finditer(rb"/(F\d+) [\d.]+ Tf|(" + string + rb")\s*Tj|\[((?:" + string + rb"|[^\]])*)\]\s*TJ",
                                 content, re.S):  # fmt: skip
            if match.group(1):
                font = fonts[match.group(1)]
                continue
            parts = [match.group(2)] if match.group(2) else re.findall(string, match.group(3), re.S)
            raw = b"".join(_unescape(part[1:-1]) for part in parts)
            if font is None:
                lines.append(raw.decode("cp1252", errors="replace"))
            else:
                codes = [int.from_bytes(raw[index : index + 2], "big") for index in range(0, len(raw), 2)]
                lines.append("".join(font.get(code, "\ufffd") for code in codes))
    return "\n".join(lines)


def assert_pdf(response, filename: str) -> str:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{filename}"'
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert content.startswith(b"%PDF-")
    return pdf_text(content)


def api(account=None) -> APIClient:
    client = APIClient()
    if account is not None:
        client.force_authenticate(account)
    return client


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def issued(world):
    """Bob holds an AK with markings; the issue event is the receipt's subject."""
    item = make_item(world.armory_a, world.alice, serial="AK-123456")
    Item.objects.filter(pk=item.pk).update(markings="INV-77 / star")
    item.refresh_from_db()
    due = timezone.now() + timedelta(days=2)
    event = services.issue(item=item, member=world.bob_member, actor=world.alice, due_at=due, reason="Night patrol")
    return event


# --- one ledger event ----------------------------------------------------------------------------------------------


def test_it_prints_the_hand_receipt_of_an_issue(client, world, issued):
    client.force_login(world.alice)
    text = assert_pdf(client.get(f"/custody/events/{issued.seq}/receipt.pdf"), f"hand-receipt-{issued.seq}-issue.pdf")
    for expected in (
        f"Hand receipt — Issued (ledger #{issued.seq})", "Company A (A)", "Arms room A (ARM-A)", "AK-74M assault rifle",
        "5.45×39 mm", "AK-123456", "INV-77 / star", "Izhmash 1991", "Armory Arms room A (ARM-A)",
        f"Member {world.bob_member.member_no} Bob Baker, Company A (A)", "alice", "Night patrol",
        timezone.localtime(issued.due_at).strftime("%Y-%m-%d %H:%M"), issued.hash, issued.prev_hash,
        f"{issued.seq} (item event 2)", "no PIN confirmation or override recorded", "Received by: member",
        "Handed over by: armorer for ARM-A", "Printed ",
    ):  # fmt: skip
        assert expected in text, expected


def test_it_prints_the_pin_confirmation_and_the_commanders_override(world, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    bob = world.bob_member
    bob.vetting_valid_until = timezone.localdate() - timedelta(days=1)
    bob.save(update_fields=["vetting_valid_until"])
    handover.set_pin(member=bob, pin="4711", actor=world.alice)
    item = make_item(world.armory_a, world.alice)
    receiver = handover.confirm(member=bob, pin="4711", actor=world.alice, purpose="issue")
    override = services.Override(commander=world.dave, reason="Vetting renewal is in the post")
    event = services.issue(item=item, member=bob, actor=world.alice, receiver=receiver, override=override)
    text = pdf_text(receipts.event_receipt(receipts.find_event(world.alice, event.seq), printed_by=world.alice))
    assert f"{bob.member_no} Bob Baker, by PIN" in text
    assert "countersigned by dave" in text
    assert "member_vetting_expired" in text
    assert "Vetting renewal is in the post" in text


def test_it_prints_a_transfer_with_both_members_confirmations(world, issued, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    alice_member = world.alice.member
    handover.set_pin(member=world.bob_member, pin="4711", actor=world.alice)
    handover.set_pin(member=alice_member, pin="8302", actor=world.alice)
    giver = handover.confirm(member=world.bob_member, pin="4711", actor=world.bob, purpose="transfer")
    receiver = handover.confirm(member=alice_member, pin="8302", actor=world.bob, purpose="transfer")
    event = services.transfer(item=issued.item, to_member=alice_member, actor=world.bob, giver=giver, receiver=receiver)
    text = pdf_text(receipts.event_receipt(receipts.find_event(world.bob, event.seq), printed_by=world.bob))
    assert f"Giver confirmed\n{world.bob_member.member_no} Bob Baker, by PIN" in text
    assert f"Receiver confirmed\n{alice_member.member_no} {alice_member.full_name}, by PIN" in text
    assert "Handed over by: member" in text and "Received by: member" in text


def test_it_prints_the_register_event_with_no_previous_holder(client, world, issued):
    register = LedgerEvent.objects.get(item=issued.item, kind=LedgerEvent.Kind.REGISTER)
    client.force_login(world.dave)
    text = assert_pdf(client.get(f"/custody/events/{register.seq}/receipt.pdf"),
                      f"hand-receipt-{register.seq}-register.pdf")  # fmt: skip
    assert "— (newly registered)" in text and "Registered by" in text and register.hash in text


def test_it_shows_the_receipt_to_the_member_who_was_party_to_the_event(client, world, issued):
    client.force_login(world.bob)
    assert issued.hash in assert_pdf(
        client.get(f"/custody/events/{issued.seq}/receipt.pdf"), f"hand-receipt-{issued.seq}-issue.pdf"
    )


def test_it_answers_404_for_an_event_of_another_unit_and_for_an_unknown_one(client, world, issued):
    client.force_login(world.carol)
    assert client.get(f"/custody/events/{issued.seq}/receipt.pdf").status_code == 404
    assert client.get("/custody/events/999999/receipt.pdf").status_code == 404


def test_it_sends_anonymous_visitors_to_the_login_page(client, world, issued):
    response = client.get(f"/custody/events/{issued.seq}/receipt.pdf")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_it_serves_the_event_receipt_over_the_api(world, issued):
    response = api(world.alice).get(f"/api/v1/ledger/{issued.seq}/receipt.pdf", HTTP_ACCEPT="application/pdf")
    assert issued.hash in assert_pdf(response, f"hand-receipt-{issued.seq}-issue.pdf")
    other = api(world.carol).get(f"/api/v1/ledger/{issued.seq}/receipt.pdf", HTTP_ACCEPT="application/pdf")
    assert (other.status_code, other["Content-Type"], other.json()["code"]) == (
        404,
        "application/json",
        "event_not_found",
    )
    assert api().get(f"/api/v1/ledger/{issued.seq}/receipt.pdf").status_code == 401
    for seq in ("abc", "1.5", "-1"):  # not a number: the same JSON 404 as an unknown one
        odd = api(world.alice).get(f"/api/v1/ledger/{seq}/receipt.pdf", HTTP_ACCEPT="application/pdf")
        answer = (odd.status_code, odd["Content-Type"], odd.json()["code"])
        assert answer == (404, "application/json", "event_not_found")


def test_it_accepts_a_token_for_the_api_receipt(world, issued):
    client = APIClient()
    token = client.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert "AK-123456" in assert_pdf(
        client.get(f"/api/v1/ledger/{issued.seq}/receipt.pdf"), f"hand-receipt-{issued.seq}-issue.pdf"
    )


# --- a member's holdings -------------------------------------------------------------------------------------------


def test_it_lists_everything_the_member_holds_with_the_event_that_gave_it(client, world, issued):
    second = make_item(world.armory_a, world.alice, serial="RADIO-9")
    first_issue = services.issue(item=second, member=world.bob_member, actor=world.alice)
    services.return_item(item=second, actor=world.alice)
    reissue = services.issue(item=second, member=world.bob_member, actor=world.alice, reason="again")
    events_before = LedgerEvent.objects.count()
    client.force_login(world.alice)
    member_no = world.bob_member.member_no
    response = client.get(f"/members/{member_no}/hand-receipt.pdf")
    text = assert_pdf(response, f"hand-receipt-{member_no}-{timezone.localdate():%Y-%m-%d}.pdf")
    assert "Sub-hand receipt — Bob Baker" in text and member_no in text
    assert "AK-123456" in text and "RADIO-9" in text and "Items held (2)" in text
    assert f"#{issued.seq} issued" in text and f"#{reissue.seq} issued" in text
    assert f"#{first_issue.seq} issued" not in text  # the earlier issue of the radio is history, not the holding
    assert f"I, Bob Baker ({member_no}), acknowledge that I hold the 2 item(s)" in text
    assert LedgerEvent.objects.count() == events_before  # printing changes nothing


def test_the_sub_hand_receipt_lists_the_lot_quantities_the_member_holds(client, world, issued):
    from muster.custody import lots
    from muster.custody.testing import make_lot

    lot = make_lot(world.armory_a, world.alice, quantity=1000, number="7N6-1987-041")
    due = timezone.now() + timedelta(days=2)
    lots.issue(lot=lot, member=world.bob_member, quantity=90, actor=world.alice, due_at=due - timedelta(days=1))
    later = lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice, due_at=due)
    lots.return_quantity(lot=lot, member=world.bob_member, quantity=20, actor=world.alice)
    other = make_lot(world.armory_a, world.alice, quantity=50, number="FLARE-7", name="Signal flare")
    lots.issue(lot=other, member=make_member(world.unit_a), quantity=5, actor=world.alice)  # someone else's
    foreign = make_lot(world.armory_b, world.carol, quantity=50, number="B-LOT-1")
    lots.issue(lot=foreign, member=world.bob_member, quantity=4, actor=world.rita)
    client.force_login(world.alice)
    member_no = world.bob_member.member_no
    text = assert_pdf(client.get(f"/members/{member_no}/hand-receipt.pdf"),
                      f"hand-receipt-{member_no}-{timezone.localdate():%Y-%m-%d}.pdf")  # fmt: skip
    section = text.split("Ammunition and consumables held, by lot (1)")[1]
    assert "7N6-1987-041" in section and "5.45×39 mm ball (ARM-A)" in section
    assert "\n100\n" in section  # 90 + 30 issued, 20 back: its own table cell
    assert receipts.local_time(due) in section  # the due-back time of the balance: the later issue's
    assert f"#{later.seq} lot issue" in section  # the latest issue of the lot to the member
    assert "FLARE-7" not in text and "B-LOT-1" not in text
    assert "also holds some of 1 lot(s) homed outside the units" in section
    assert "the 1 item(s) and the quantities of the 1 lot(s) listed above" in text
    own = pdf_text(receipts.member_hand_receipt(receipts.member_holdings(world.bob, world.bob_member),
                                                printed_by=world.bob))  # fmt: skip
    assert "B-LOT-1" in own and "7N6-1987-041" in own and "by lot (2)" in own


def test_it_reads_the_lot_holdings_in_the_same_number_of_queries_for_one_lot_or_many(world, issued):
    from muster.custody import lots
    from muster.custody.testing import make_lot

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            receipts.member_holdings(world.alice, world.bob_member)
        return len(queries)

    lots.issue(lot=make_lot(world.armory_a, world.alice), member=world.bob_member, quantity=3, actor=world.alice)
    one = count()
    for _ in range(4):
        lot = make_lot(world.armory_a, world.alice)
        lots.issue(lot=lot, member=world.bob_member, quantity=3, actor=world.alice)
        lots.issue(lot=lot, member=world.bob_member, quantity=2, actor=world.alice)
    assert count() == one
    holdings = receipts.member_holdings(world.alice, world.bob_member)
    assert [row.balance.quantity for row in holdings.lots] == [3, 5, 5, 5, 5]
    assert all(row.issue_seq for row in holdings.lots)


def test_it_says_so_when_the_member_holds_nothing(client, world):
    client.force_login(world.dave)
    text = assert_pdf(
        client.get(f"/members/{world.bob_member.member_no}/hand-receipt.pdf"),
        f"hand-receipt-{world.bob_member.member_no}-{timezone.localdate():%Y-%m-%d}.pdf",
    )
    assert "The member holds no items." in text and "hold the 0 item(s)" in text
    assert "The member holds no ammunition or consumables." in text


def test_it_counts_but_does_not_list_items_homed_outside_the_readers_units(world, issued):
    foreign = make_item(world.armory_b, world.rita, serial="B-ONLY-1")
    services.issue(item=foreign, member=world.bob_member, actor=world.rita)
    text = pdf_text(receipts.member_hand_receipt(receipts.member_holdings(world.dave, world.bob_member),
                                                 printed_by=world.dave))  # fmt: skip
    assert "AK-123456" in text and "B-ONLY-1" not in text
    assert "The member also holds 1 item(s) homed outside the units" in text
    own = pdf_text(receipts.member_hand_receipt(receipts.member_holdings(world.bob, world.bob_member),
                                                printed_by=world.bob))  # fmt: skip
    assert "B-ONLY-1" in own and "also holds" not in own


def test_it_reads_the_holdings_in_the_same_number_of_queries_for_one_item_or_many(world, issued):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            receipts.member_holdings(world.alice, world.bob_member)
        return len(queries)

    one = count()
    for _ in range(5):
        services.issue(item=make_item(world.armory_a, world.alice), member=world.bob_member, actor=world.alice)
    assert count() == one
    assert len(receipts.member_holdings(world.alice, world.bob_member).rows) == 6


def test_it_scopes_the_member_receipt_like_the_member_page(client, world):
    url = f"/members/{world.bob_member.member_no}/hand-receipt.pdf"
    client.force_login(world.carol)
    assert client.get(url).status_code == 404
    client.force_login(world.bob)
    assert client.get(url).status_code == 200  # their own
    assert client.get(f"/members/{world.alice.member.member_no}/hand-receipt.pdf").status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_it_serves_the_member_receipt_over_the_api(world, issued):
    member_no = world.bob_member.member_no
    url = f"/api/v1/members/{member_no}/hand-receipt.pdf"
    text = assert_pdf(api(world.dave).get(url), f"hand-receipt-{member_no}-{timezone.localdate():%Y-%m-%d}.pdf")
    assert "AK-123456" in text and member_no in text
    detail = f"No member with number {member_no!r} in your units."
    assert api(world.carol).get(url).json() == {"code": "member_not_found", "detail": detail}
    assert api().get(url).status_code == 401


# --- names beyond Latin-1 ------------------------------------------------------------------------------------------


def test_it_prints_names_outside_latin_1_as_written(client, world):
    olena = make_member(world.unit_a, first_name="Ōlena", last_name="Kovaľ")
    item = make_item(world.armory_a, world.alice, serial="ŽSN-1")
    event = services.issue(item=item, member=olena, actor=world.alice, reason="Для чергування")
    client.force_login(world.alice)
    text = assert_pdf(client.get(f"/custody/events/{event.seq}/receipt.pdf"), f"hand-receipt-{event.seq}-issue.pdf")
    assert "Ōlena Kovaľ" in text and "ŽSN-1" in text and "Для чергування" in text
    text = pdf_text(receipts.member_hand_receipt(receipts.member_holdings(world.alice, olena), printed_by=world.alice))
    assert f"I, Ōlena Kovaľ ({olena.member_no})" in text


def test_it_falls_back_to_latin_1_without_the_unicode_font(world):
    olena = make_member(world.unit_a, first_name="Олена", last_name="Kovaľ 李")
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=olena, actor=world.alice)
    content = receipts.member_hand_receipt(receipts.member_holdings(world.alice, olena), printed_by=world.alice,
                                           unicode_fonts=False)  # fmt: skip
    text = pdf_text(content)
    assert b"/ToUnicode" not in content  # core fonts only
    assert f"I, Olena Koval ? ({olena.member_no})" in text and item.serial_number in text


@pytest.mark.parametrize(
    ("written", "latin"),
    [("Ōlena Kovaľ", "Olena Koval"), ("Олена Коваль", "Olena Koval"), ("Їжак Щука", "Izhak Shchuka"),
     ("Müller ß", "Müller ß"), ("Łódź — 5.45×39", "Lódz - 5.45×39"), ("Øst № 7 …", "Øst No. 7 ..."), ("李", "?")],
)  # fmt: skip
def test_it_transliterates_for_the_core_fonts(written, latin):
    assert receipts.latin1(written) == latin
    assert latin.encode("latin-1")


def test_it_holds_the_event_that_gave_the_item_to_the_member(world, issued):
    holding = receipts.member_holdings(world.alice, world.bob_member).rows[0]
    assert (holding.item.pk, holding.event.pk, holding.item.holder_kind) == (
        issued.item_id,
        issued.pk,
        HolderKind.MEMBER,
    )


def test_it_asks_the_holder_and_the_recorder_to_sign_a_loss_report(world):
    loss = LedgerEvent(kind="loss", from_kind=HolderKind.MEMBER, from_member=world.bob_member,
                       to_kind=HolderKind.MEMBER, to_member=world.bob_member, actor=world.alice)  # fmt: skip
    assert receipts.signature_parties(loss) == [
        ("Holder: member", f"Bob Baker ({world.bob_member.member_no})"), ("Recorded by", "alice")
    ]  # fmt: skip
