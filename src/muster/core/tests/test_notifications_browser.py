"""Chromium reads notifications the way a member does: the navbar badge counts the unread ones, "Mark read" swaps the
row and the badge in place (htmx, under the strict CSP), "Mark all read" clears the rest."""

import pytest

from muster.core.models import Notification
from muster.core.testing import PASSWORD
from muster.custody.tests.test_browser import browser_page  # noqa: F401 — the shared Chromium fixture

pytestmark = pytest.mark.browser


def badge_text(page) -> str:
    return " ".join(page.get_by_test_id("unread-count").text_content().split())


def test_a_member_reads_and_clears_notifications_in_the_browser(live_server, browser_page, world, purged_ledger):  # noqa: F811
    page = browser_page
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    recall, overdue, count = (
        Notification.objects.create(recipient=world.bob, subject=subject, url=f"/members/{world.bob_member.member_no}/")
        for subject in ("Recall: AK-1", "Overdue: radio R-7", "Count due")
    )
    Notification.objects.create(recipient=world.alice, subject="Not for bob")

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert badge_text(page) == "3 unread"

    page.get_by_test_id("nav-notifications").click()
    page.wait_for_url(f"{live_server.url}/notifications/")
    assert page.locator("[data-unread=true]").count() == 3
    assert "Not for bob" not in page.content()

    page.locator(f"#notification-{recall.pk} button").click()  # htmx: the row and the badge, in place
    page.wait_for_selector(f"#notification-{recall.pk}[data-unread=false]")
    assert page.url == f"{live_server.url}/notifications/"
    assert badge_text(page) == "2 unread"
    recall.refresh_from_db()
    assert recall.read_at is not None

    page.get_by_test_id("mark-all-read").locator("button").click()
    page.wait_for_selector("[data-unread=true]", state="detached")
    assert page.get_by_test_id("unread-count").is_hidden()
    assert not Notification.objects.filter(recipient=world.bob, read_at=None).exists()
    assert Notification.objects.filter(recipient=world.alice, read_at=None).count() == 1

    page.get_by_text("Overdue: radio R-7").click()  # each row links to where to look
    page.wait_for_url(f"{live_server.url}/members/{world.bob_member.member_no}/")
    assert problems == [], problems
    assert {overdue.pk, count.pk} <= set(Notification.objects.exclude(read_at=None).values_list("pk", flat=True))
