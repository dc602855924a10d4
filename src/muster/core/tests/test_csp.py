"""Content Security Policy: the header is sent, and the real pages work under it in Chromium with no violation."""

import pytest

from muster.core.testing import PASSWORD
from muster.custody.testing import make_item
from muster.custody.tests.test_browser import browser_page  # noqa: F401 — the shared Chromium fixture

PAGES = [
    "/",
    "/armories/ARM-A/",
    "/members/",
    "/custody/issue/",
    "/custody/transfer/",
    "/custody/counter/",
    "/units/A/dashboard/",
    "/units/A/keys/",
    "/training/",
    "/training/expiring/",
    "/api/docs/",
    "/admin/",
]


def test_every_response_carries_the_policy(client, world):
    client.force_login(world.alice)
    header = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in header and "'unsafe-inline'" not in header
    assert "frame-ancestors 'none'" in header


@pytest.mark.browser
def test_the_pages_run_under_the_policy_without_a_violation(live_server, browser_page, world, purged_ledger):  # noqa: F811
    world.rita.is_staff = world.rita.is_superuser = True
    world.rita.save()
    make_item(world.armory_a, world.alice)
    problems = []
    browser_page.on(
        "console",
        lambda message: (
            problems.append(f"{browser_page.url}: {message.text}")
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    browser_page.on("pageerror", lambda error: problems.append(str(error)))
    browser_page.goto(f"{live_server.url}/login/")
    browser_page.fill("input[name=username]", "rita")
    browser_page.fill("input[name=password]", PASSWORD)
    browser_page.click("button[type=submit]")
    browser_page.wait_for_url(f"{live_server.url}/")
    for path in PAGES:
        browser_page.goto(f"{live_server.url}{path}")
        browser_page.wait_for_load_state("networkidle")
    browser_page.goto(f"{live_server.url}/api/docs/")
    browser_page.wait_for_selector(".swagger-ui .info", timeout=15_000)  # the docs really rendered
    assert problems == [], "\n".join(problems)
