"""Chromium drives the unit custody policy page: a commander reads where each rule comes from, sets two of A's own
rules, and sees them in force; the page works under the Content Security Policy."""

import os

import pytest

from muster.core.testing import PASSWORD
from muster.custody.policy_models import UnitPolicy
from muster.custody.tests.test_browser import browser_page  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.browser


def test_a_commander_sets_the_units_policy_in_the_browser(live_server, world, browser_page):  # noqa: F811
    page = browser_page
    UnitPolicy.objects.create(unit=world.region, loss_report_hours=12)
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "dave")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/units/custody-policy/")
    page.get_by_test_id("unit-policy-A").get_by_role("link", name="A").click()
    page.wait_for_url("**/units/A/custody-policy/")
    assert "from region R" in page.get_by_test_id("policy-loss_report_hours").inner_text()
    assert "site default" in page.get_by_test_id("policy-default_loan_hours").inner_text()

    page.fill("#id_default_loan_hours", "24")
    page.select_option("#id_count_frequency", "daily")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Custody policy of A saved.").wait_for()
    loan = page.get_by_test_id("policy-default_loan_hours").inner_text()
    assert "24" in loan and "set here" in loan
    assert "daily" in page.get_by_test_id("policy-count_frequency").inner_text()
    row = UnitPolicy.objects.get(unit=world.unit_a)
    assert (row.default_loan_hours, row.count_frequency, row.updated_by) == (24, "daily", world.dave)
    if os.environ.get("MUSTER_SCREENSHOT_DIR"):
        page.screenshot(path=f"{os.environ['MUSTER_SCREENSHOT_DIR']}/unit_policy.png", full_page=True)
    assert problems == []
