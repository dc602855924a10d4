"""Chromium at the counter: a keyboard-wedge scanner (the code typed, then Enter) issues a rifle in three
interactions, badge, item, PIN, and one more scan of the rifle takes it back; then the camera reads the item's QR
label from a fake camera, with the browser's BarcodeDetector or, where there is none (Chromium on Linux), the vendored
jsQR. Both pages run under the Content Security Policy with no violation and no script error."""

import time

import pytest
import segno

from muster.core.testing import PASSWORD
from muster.custody import handover, ledger
from muster.custody.models import HolderKind, LedgerEvent
from muster.custody.testing import make_item
from muster.custody.tests.test_browser import CHROMIUM, CHROMIUM_ARGS, browser_page  # noqa: F401

pytestmark = pytest.mark.browser

PIN = "4711"


def watch(page) -> list[str]:
    """Every CSP violation or script error the page reports, collected as it runs."""
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def assert_focused(locator) -> None:
    """The cursor is there, once htmx has swapped the panel in and settled (muster.js focuses [autofocus])."""
    from playwright.sync_api import expect

    expect(locator).to_be_focused()


def wedge(page, selector: str, text: str) -> None:
    """What a keyboard-wedge scanner does: type the code, then Enter."""
    page.locator(selector).type(text)
    page.locator(selector).press("Enter")


def test_an_armorer_issues_and_takes_back_a_rifle_with_a_wedge_scanner(
    live_server,
    purged_ledger,
    world,
    browser_page,  # noqa: F811 (the shared Chromium fixture)
    settings,
):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin=PIN, actor=world.alice)
    rifle = make_item(world.armory_a, world.alice, serial="AK-COUNTER-1")
    page = browser_page
    problems = watch(page)
    log_in(page, live_server, "alice")

    page.goto(f"{live_server.url}/custody/counter/")
    assert_focused(page.locator("#counter-code"))

    wedge(page, "#counter-code", world.bob_member.member_no)  # 1: the badge
    page.get_by_test_id("counter-member").filter(has_text="Bob Baker").wait_for()
    assert_focused(page.locator("#counter-code"))

    wedge(page, "#counter-code", "AK-COUNTER-1")  # 2: the item
    page.locator("#counter-pin").wait_for()
    assert_focused(page.locator("#counter-pin"))
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()

    wedge(page, "#counter-pin", PIN)  # 3: bob's PIN
    confirmation = page.get_by_test_id("confirmation")
    confirmation.filter(has_text="Issued").wait_for()
    assert "confirmed by PIN" in confirmation.inner_text()
    assert page.get_by_test_id("counter-receipt").is_visible()
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_member_id) == (HolderKind.MEMBER, world.bob_member.pk)
    assert "AK-COUNTER-1" in page.get_by_test_id("holdings").inner_text()  # bob is still at the counter
    assert_focused(page.locator("#counter-code"))

    wedge(page, "#counter-code", "AK-COUNTER-1")  # a return is one scan
    page.get_by_test_id("confirmation").filter(has_text="Returned").wait_for()
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_armory_id) == (HolderKind.ARMORY, world.armory_a.pk)
    kinds = list(LedgerEvent.objects.filter(item=rifle).order_by("seq").values_list("kind", flat=True))
    assert kinds == ["register", "issue", "return"]
    assert ledger.verify().ok
    assert problems == [], "\n".join(problems)


# --- the camera ----------------------------------------------------------------------------------------------------


def qr_video(path, payload: str, *, width: int = 640, height: int = 480, module: int = 10) -> None:
    """A one-frame Y4M video of the payload's QR code (as the labels print it), for Chromium's fake camera."""
    rows = list(segno.make(payload, error="m", micro=False).matrix_iter(scale=module, border=4))
    top, left = (height - len(rows)) // 2, (width - len(rows[0])) // 2
    luma = bytearray([235]) * (width * height)  # white
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 16
    chroma = bytes([128]) * (width // 2 * height // 2)  # no colour
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"FRAME\n" + bytes(luma) + chroma + chroma)


@pytest.fixture
def camera_browser(monkeypatch, tmp_path):
    """Chromium whose camera shows a file: call it with the payload the camera is to see; returns the page."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM}: browser test skipped")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browsers = []

        def launch(payload: str):
            video = tmp_path / "label.y4m"
            qr_video(video, payload)
            camera = [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ]
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + camera)
            browsers.append(browser)
            page = browser.new_page(permissions=["camera"])
            page.set_default_timeout(20_000)
            return page

        try:
            yield launch
        finally:
            for browser in browsers:
                browser.close()


def test_the_camera_reads_an_item_label_and_scans_it_like_the_wedge(live_server, purged_ledger, world, camera_browser):
    rifle = make_item(world.armory_a, world.alice, serial="AK-CAMERA-1")
    page = camera_browser("AK-CAMERA-1")
    problems = watch(page)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/custody/counter/")

    wedge(page, "#counter-code", world.bob_member.member_no)
    page.get_by_test_id("counter-member").wait_for()
    page.get_by_role("button", name="Camera").click()
    page.locator("#counter-pin").wait_for()  # the camera read the label: the rifle waits for bob's PIN
    assert "AK-CAMERA-1" in page.get_by_test_id("counter-waiting").inner_text()
    native = page.evaluate("'BarcodeDetector' in window")
    assert native or page.evaluate("typeof window.jsQR === 'function'")  # without the native API, the fallback

    wedge(page, "#counter-pin", "")  # the site does not require the PIN in this test: Enter issues
    page.get_by_test_id("confirmation").filter(has_text="Issued").wait_for()
    rifle.refresh_from_db()
    assert rifle.holder_member_id == world.bob_member.pk
    # The label is still in front of the camera: it stays one scan, so the rifle is not taken straight back.
    time.sleep(2.5)
    rifle.refresh_from_db()
    assert rifle.holder_member_id == world.bob_member.pk
    page.get_by_role("button", name="Stop camera").click()
    assert page.get_by_test_id("camera-video").is_hidden()
    assert problems == [], "\n".join(problems)


def test_a_scan_over_the_request_rate_says_so_and_the_next_one_goes_through(
    live_server,
    purged_ledger,
    world,
    browser_page,  # noqa: F811 (the shared Chromium fixture)
    settings,
):
    """htmx swaps nothing in on a 429: muster.js shows a notice above the panel instead of seeming to do nothing,
    and takes it away when a later request goes through."""
    from django.core.cache import cache
    from playwright.sync_api import expect

    make_item(world.armory_a, world.alice, serial="AK-RATE-1")
    page = browser_page
    problems = watch(page)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/custody/counter/")
    assert_focused(page.locator("#counter-code"))
    settings.MUSTER_WEB_THROTTLING = True
    settings.MUSTER_WEB_THROTTLE_RATES = {"web": "1/minute", "web_documents": "1/minute", "web_anonymous": "10/minute"}
    cache.clear()
    try:
        wedge(page, "#counter-code", world.bob_member.member_no)  # the account's one request this minute
        page.get_by_test_id("counter-member").filter(has_text="Bob Baker").wait_for()
        wedge(page, "#counter-code", world.bob_member.member_no)  # over the rate
        notice = page.locator(".muster-rate-notice")
        expect(notice).to_contain_text("Too many requests from this account: nothing was done. Try again in")
        cache.clear()  # the minute is over
        wedge(page, "#counter-code", "AK-RATE-1")  # the scan goes through: the item is taken up
        expect(page.get_by_test_id("counter-waiting")).to_contain_text("AK-RATE-1")
        expect(notice).to_have_count(0)
    finally:
        cache.clear()
    # The browser reports the 429 itself as a failed resource load; nothing else may appear.
    assert [problem for problem in problems if "429" not in problem] == []
