"""Chromium drives the armorer's real flow: log in, issue a rifle to bob (who confirms with his PIN, after one wrong
try), see it on his page, take it back; and a duty officer records bob handing a rifle to carl, both typing their
PINs. The site's handover PIN rule is on, as in production."""

import os
from pathlib import Path

import pytest

from muster.core.testing import PASSWORD, make_member
from muster.custody import handover, ledger, services
from muster.custody.models import HandoverAttempt, HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_page(monkeypatch):
    if not CHROMIUM.exists():
        message = f"Chromium not installed at {CHROMIUM}: browser test skipped"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run it (install the Debian package 'chromium')")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; Django refuses ORM calls there otherwise.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def is_focused(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def test_an_armorer_issues_and_takes_back_a_rifle_in_the_browser(
    live_server, purged_ledger, world, browser_page, settings
):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4711", actor=world.alice)
    page = browser_page
    rifle = make_item(world.armory_a, world.alice, serial="AK-BROWSER-1")
    bob_no = world.bob_member.member_no

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/custody/issue/")
    serial = page.locator("#id_serial")
    assert is_focused(serial)  # ready for the first scan
    # A keyboard-wedge scanner: the code, then Enter. Enter in the serial moves on to the member number, Enter there
    # moves on to the PIN, which bob types on the counter keyboard; Enter in the PIN issues.
    serial.type("AK-BROWSER-1")
    serial.press("Enter")
    assert is_focused(page.locator("#id_member_no"))
    page.locator("#id_member_no").type(bob_no)
    page.locator("#id_member_no").press("Enter")
    pin = page.locator("#id_pin")
    assert is_focused(pin)
    pin.type("4712")  # a slip of the finger: refused, logged, and the cursor waits in the PIN again
    pin.press("Enter")
    page.get_by_text("pin_wrong").wait_for()
    assert page.locator("#id_serial").input_value() == "AK-BROWSER-1"
    assert page.locator("#id_pin").input_value() == ""
    assert is_focused(page.locator("#id_pin"))
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()
    page.locator("#id_pin").type("4711")
    page.locator("#id_pin").press("Enter")
    confirmation = page.get_by_test_id("confirmation")
    confirmation.wait_for()
    assert "Issued" in confirmation.inner_text()
    assert "confirmed by PIN" in confirmation.inner_text()
    assert page.locator("#id_serial").input_value() == ""  # a fresh form for the next scan
    assert list(HandoverAttempt.objects.order_by("pk").values_list("succeeded", flat=True)) == [False, True]

    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_member_id) == (HolderKind.MEMBER, world.bob_member.pk)

    page.goto(f"{live_server.url}/members/{bob_no}/")
    assert "AK-BROWSER-1" in page.get_by_test_id("holdings").inner_text()

    page.get_by_test_id("holdings").get_by_role("link", name="Return").click()
    page.wait_for_url("**/custody/return/**")
    assert page.locator("#id_serial").input_value() == "AK-BROWSER-1"
    page.fill("#id_reason", "end of exercise")
    page.locator("#id_serial").press("Enter")
    page.get_by_test_id("confirmation").wait_for()
    assert "Returned" in page.get_by_test_id("confirmation").inner_text()

    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_armory_id) == (HolderKind.ARMORY, world.armory_a.pk)
    kinds = list(LedgerEvent.objects.filter(item=rifle).order_by("seq").values_list("kind", flat=True))
    assert kinds == ["register", "issue", "return"]
    assert LedgerEvent.objects.get(item=rifle, kind="issue").data["receiver_confirmed"]["method"] == "pin"
    assert LedgerEvent.objects.get(item=rifle, kind="return").reason == "end of exercise"
    assert Item.objects.count() == 1
    assert ledger.verify().ok


def test_a_duty_officer_records_a_handover_between_two_members_in_the_browser(
    live_server, purged_ledger, world, browser_page, settings
):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    carl = make_member(world.unit_a, first_name="Carl", last_name="Cooper")
    handover.set_pin(member=world.bob_member, pin="4711", actor=world.alice)
    handover.set_pin(member=carl, pin="5926", actor=world.alice)
    rifle = make_item(world.armory_a, world.alice, serial="AK-BROWSER-2")
    to_bob = handover.confirm(member=world.bob_member, pin="4711", actor=world.alice, purpose="issue")
    services.issue(item=rifle, member=world.bob_member, actor=world.alice, receiver=to_bob)
    page = browser_page

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "frank")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/members/{world.bob_member.member_no}/")
    page.get_by_test_id("holdings").get_by_role("link", name="Hand over").click()
    page.wait_for_url("**/custody/transfer/**")
    assert page.locator("#id_serial").input_value() == "AK-BROWSER-2"
    # The serial came with the link: the cursor waits for the receiver's badge, then each member types their PIN.
    receiver = page.locator("#id_to_member_no")
    assert is_focused(receiver)
    receiver.type(carl.member_no)
    receiver.press("Enter")
    assert is_focused(page.locator("#id_giver_pin"))
    page.locator("#id_giver_pin").type("4711")
    page.locator("#id_giver_pin").press("Enter")
    assert is_focused(page.locator("#id_receiver_pin"))
    page.locator("#id_receiver_pin").type("5926")
    page.locator("#id_receiver_pin").press("Enter")
    confirmation = page.get_by_test_id("confirmation")
    confirmation.wait_for()
    text = confirmation.inner_text()
    assert "Handed over" in text and "Carl Cooper" in text and text.count("confirmed by PIN") == 2

    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_member_id) == (HolderKind.MEMBER, carl.pk)
    event = LedgerEvent.objects.get(item=rifle, kind="transfer")
    assert (event.from_member_id, event.actor_id) == (world.bob_member.pk, world.frank.pk)
    page.goto(f"{live_server.url}/members/{carl.member_no}/")
    assert "AK-BROWSER-2" in page.get_by_test_id("holdings").inner_text()
    assert ledger.verify().ok
