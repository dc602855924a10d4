"""Chromium drives the armorer's real flow: log in, issue a rifle to bob, see it on his page, take it back."""

import os
from pathlib import Path

import pytest

from muster.core.testing import PASSWORD
from muster.custody import ledger
from muster.custody.models import HolderKind, Item, LedgerEvent
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


def test_an_armorer_issues_and_takes_back_a_rifle_in_the_browser(live_server, purged_ledger, world, browser_page):
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
    assert serial.evaluate("element => element === document.activeElement")  # ready for the first scan
    # A keyboard-wedge scanner: the code, then Enter. Enter in the serial moves on to the member number.
    serial.type("AK-BROWSER-1")
    serial.press("Enter")
    assert page.locator("#id_member_no").evaluate("element => element === document.activeElement")
    page.locator("#id_member_no").type(bob_no)
    page.locator("#id_member_no").press("Enter")
    confirmation = page.get_by_test_id("confirmation")
    confirmation.wait_for()
    assert "Issued" in confirmation.inner_text()
    assert page.locator("#id_serial").input_value() == ""  # a fresh form for the next scan

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
    assert LedgerEvent.objects.get(item=rifle, kind="return").reason == "end of exercise"
    assert Item.objects.count() == 1
    assert ledger.verify().ok
