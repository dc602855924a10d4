"""Chromium signs a commander in with two-factor required, as a person would: password, the set-up page (the secret
read off the page, the code computed as an authenticator app does), the dashboard; then a second sign-in with the
code page. No Content Security Policy violation on the way (the QR code is a data: image)."""

import time
from base64 import b32decode

import pytest
from django_otp.oath import totp

from muster.core.testing import PASSWORD
from muster.custody.tests.test_browser import browser_page  # noqa: F401 — the shared Chromium fixture

pytestmark = pytest.mark.browser


def app_code(secret: str, steps: int = 0) -> str:
    return f"{totp(b32decode(secret.replace(' ', '')), drift=steps):06d}"


def test_a_commander_sets_up_two_factor_and_signs_in_with_it(
    live_server,
    purged_ledger,
    world,
    browser_page,  # noqa: F811
    settings,
):
    settings.MUSTER_REQUIRE_TOTP = True
    page = browser_page
    problems = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            or (message.type == "error" and "status of 400" not in message.text)  # the wrong code, on purpose
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server.url}/members/")
    page.fill("input[name=username]", "dave")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/two-factor/set-up/?next=%2Fmembers%2F")
    qr = page.get_by_test_id("otp-qr")
    assert qr.evaluate("image => image.complete && image.naturalWidth > 100")  # the QR code rendered
    secret = page.get_by_test_id("otp-secret").inner_text()
    valid = {app_code(secret, steps) for steps in (-1, 0, 1)}
    page.fill("input[name=code]", next(code for code in ("000000", "111111", "222222") if code not in valid))
    page.click("[data-testid=otp-enrol-form] button[type=submit]")
    assert "otp_invalid" in page.get_by_test_id("form-error").inner_text()
    page.wait_for_timeout(1100)  # the wait after one wrong code
    page.fill("input[name=code]", app_code(secret))
    page.click("[data-testid=otp-enrol-form] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/members/")

    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/login/")
    page.fill("input[name=username]", "dave")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/login/code/?next=%2F")
    # This time step's code is used up and a code counts in its own step only: wait for the next step, as a person
    # whose app shows the used code would.
    page.wait_for_timeout(1000 * (30 - time.time() % 30) + 200)
    page.fill("input[name=code]", app_code(secret))
    page.click("[data-testid=otp-verify-form] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_test_id("current-user").inner_text() == "dave"
    assert problems == [], "\n".join(problems)
