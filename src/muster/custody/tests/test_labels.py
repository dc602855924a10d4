"""QR label sheets: item labels of an armory and member badges, 3 × 8 to an A4 page."""

import io
import re

import pytest
import segno
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from muster.core.testing import make_member
from muster.custody import labels, queries, services
from muster.custody.models import Item
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.test_receipts import assert_pdf, pdf_text
from muster.members.models import Member


def images_in(content: bytes) -> int:
    return len(re.findall(rb"/Subtype /Image", content))


def pages_in(content: bytes) -> int:
    return int(re.search(rb"/Count (\d+)", content).group(1))


@pytest.fixture
def shelf(world):
    """Three rifles and a radio in ARM-A (one rifle issued to Bob), and a rifle in ARM-B."""
    radio = make_item_type("Motorola DP4400 radio", category="radio")
    rifles = [make_item(world.armory_a, world.alice, serial=f"AK-{n}") for n in (101, 102, 103)]
    services.issue(item=rifles[2], member=world.bob_member, actor=world.alice)
    make_item(world.armory_a, world.alice, item_type=radio, serial="RAD-7")
    make_item(world.armory_b, world.carol, serial="BK-999")
    return radio


# --- item labels ---------------------------------------------------------------------------------------------------


def test_it_prints_a_label_with_a_qr_code_for_every_item_of_the_armory(client, world, shelf):
    client.force_login(world.alice)
    response = client.get("/armories/ARM-A/labels.pdf")
    text = assert_pdf(response, "labels-ARM-A.pdf")
    for serial in ("AK-101", "AK-102", "AK-103", "RAD-7"):
        assert serial in text
    assert "AK-74M assault rifle" in text and "Motorola DP4400 radio" in text and "ARM-A" in text
    assert "BK-999" not in text  # another unit's armory
    assert images_in(response.content) == 4


def test_it_narrows_the_labels_by_type_and_state(client, world, shelf):
    client.force_login(world.alice)
    rifle_type = Item.objects.get(serial_number="AK-101").item_type_id
    response = client.get(f"/armories/ARM-A/labels.pdf?type={rifle_type}&state=in_armory")
    text = assert_pdf(response, "labels-ARM-A.pdf")
    assert "AK-101" in text and "AK-102" in text
    assert "AK-103" not in text and "RAD-7" not in text
    assert images_in(response.content) == 2
    only_radios = client.get(f"/armories/ARM-A/labels.pdf?item_type={shelf.pk}&page=2")  # the armory page's query
    assert "RAD-7" in pdf_text(only_radios.content) and images_in(only_radios.content) == 1


def test_it_refuses_a_filter_it_cannot_read(client, world, shelf):
    client.force_login(world.alice)
    response = client.get("/armories/ARM-A/labels.pdf?state=gone&type=99999")
    assert response.status_code == 400
    message = response.content.decode()
    assert message.startswith("Invalid label filter") and "state:" in message and "type:" in message


def test_it_prints_a_sheet_saying_so_when_no_item_matches(client, world, shelf):
    client.force_login(world.alice)
    response = client.get("/armories/ARM-A/labels.pdf?state=overdue")
    assert "Item labels ARM-A: nothing to print." in assert_pdf(response, "labels-ARM-A.pdf")
    assert images_in(response.content) == 0


@pytest.mark.parametrize("who", ["carol", "bob"])
def test_it_answers_404_to_anyone_but_the_staff_of_the_armorys_units(client, world, shelf, who):
    client.force_login(getattr(world, who))
    assert client.get("/armories/ARM-A/labels.pdf").status_code == 404


def test_it_sends_anonymous_visitors_to_login_for_labels(client, world):
    response = client.get("/armories/ARM-A/labels.pdf")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_it_encodes_exactly_the_serial_number_the_counter_scans(world, shelf):
    given = []

    def recording_qr(payload: str) -> bytes:
        given.append(payload)
        return labels.qr_png(payload)

    items = queries.visible_items(world.alice).filter(home_armory=world.armory_a)
    labels.armory_sheet(items, world.armory_a, printed_by=world.alice, qr=recording_qr)
    assert sorted(given) == ["AK-101", "AK-102", "AK-103", "RAD-7"]


@pytest.mark.parametrize("payload", ["AK-101", "M00042", "ŽSN-1 / 7"])
def test_it_draws_the_qr_png_module_for_module_as_segno_encodes_the_payload(payload):
    image = Image.open(io.BytesIO(labels.qr_png(payload))).convert("L")
    expected = segno.make(payload, error="m", micro=False).matrix
    size, scale, quiet = len(expected), 8, labels.QUIET_ZONE
    assert (image.width, image.height) == ((size + 2 * quiet) * scale,) * 2

    def dark(x: int, y: int) -> bool:
        return image.getpixel(((x + quiet) * scale + scale // 2, (y + quiet) * scale + scale // 2)) < 128

    assert [[dark(x, y) for x in range(size)] for y in range(size)] == [[bool(m) for m in row] for row in expected]
    assert not any(dark(x, -1) or dark(-1, x) or dark(x, size) or dark(size, x) for x in range(-quiet, size + quiet))


def test_it_fills_a_page_with_24_labels_and_starts_the_next(world):
    for number in range(25):
        make_item(world.armory_a, world.alice, serial=f"LOT-{number:02d}")
    items = queries.visible_items(world.alice).filter(home_armory=world.armory_a)
    content = labels.armory_sheet(items, world.armory_a, printed_by=world.alice)
    assert (pages_in(content), images_in(content)) == (2, 25)
    assert "LOT-24" in pdf_text(content)


def test_it_reads_the_items_in_one_query_however_many_there_are(world):
    items = queries.visible_items(world.alice).filter(home_armory=world.armory_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            labels.armory_sheet(items, world.armory_a, printed_by=world.alice)
        return len(captured)

    make_item(world.armory_a, world.alice)
    assert count() == 1
    for _ in range(30):
        make_item(world.armory_a, world.alice)
    assert count() == 1


# --- member badges -------------------------------------------------------------------------------------------------


def test_it_prints_badges_for_the_members_of_the_unit(client, world):
    gone = make_member(world.unit_a, first_name="Gone", last_name="Away", status=Member.Status.DEPARTED)
    olena = make_member(world.unit_a, first_name="Ōlena", last_name="Kovaľ")
    client.force_login(world.dave)
    response = client.get("/units/A/badges.pdf")
    text = assert_pdf(response, "badges-A.pdf")
    assert world.bob_member.member_no in text and "Bob Baker" in text
    assert olena.member_no in text and "Ōlena Kovaľ" in text
    assert gone.member_no not in text and world.member_b.member_no not in text
    shown = Member.objects.filter(unit=world.unit_a).exclude(status=Member.Status.DEPARTED).count()
    assert images_in(response.content) == shown


def test_it_encodes_the_member_number_on_the_badge(world):
    given = []
    members = Member.objects.filter(unit=world.unit_b)
    labels.badge_sheet(members, world.unit_b, printed_by=world.carol, qr=lambda p: given.append(p) or labels.qr_png(p))
    assert sorted(given) == sorted([world.carol.member.member_no, world.member_b.member_no])


def test_it_lets_the_region_print_badges_of_a_company(client, world):
    client.force_login(world.rita)
    assert world.member_b.member_no in assert_pdf(client.get("/units/B/badges.pdf"), "badges-B.pdf")


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("erin", 403), ("frank", 403), ("carol", 404),
                                             ("bob", 404)])  # fmt: skip
def test_it_prints_badges_only_for_commanders_and_armorers_of_the_unit(client, world, who, status):
    client.force_login(getattr(world, who))
    assert client.get("/units/A/badges.pdf").status_code == status


def test_it_sends_anonymous_visitors_to_login_for_badges(client, world):
    response = client.get("/units/A/badges.pdf")
    assert response.status_code == 302 and response["Location"].startswith("/login")
