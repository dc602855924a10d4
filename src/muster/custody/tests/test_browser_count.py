"""Chromium drives a count: the armorer starts it from the armory page, scans two of three rifles with the keyboard
wedge (code, Enter), submits, and turns the missing one into a loss case, which freezes the rifle."""

import pytest

from muster.core.errors import Refused
from muster.core.testing import PASSWORD
from muster.custody import ledger, services
from muster.custody.models import Count, CountScan, Discrepancy, LossCase
from muster.custody.testing import make_item
from muster.custody.tests.test_browser import browser_page, is_focused  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def purged_controls(purged_ledger):
    """Counts and loss cases hold the items and ledger events they name (PROTECT): clear them before the purge."""
    yield
    Count.objects.all().delete()  # with its scans and discrepancies
    LossCase.objects.all().delete()


def test_an_armorer_counts_an_armory_and_opens_a_loss_case_for_the_missing_rifle(
    live_server,
    purged_controls,
    world,
    browser_page,  # noqa: F811
):
    page = browser_page
    rifles = [make_item(world.armory_a, world.alice, serial=f"AK-COUNT-{n}") for n in range(1, 4)]
    problems = []  # the pages must work under the Content Security Policy, with no script error
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/armories/ARM-A/")
    panel = page.get_by_test_id("count-panel")  # loaded into the armory page by htmx
    assert "never" in panel.get_by_test_id("last-count").inner_text()
    panel.get_by_role("button", name="Start a count").click()
    page.wait_for_url("**/custody/counts/*/")
    count = Count.objects.get()
    assert (count.status, count.counter_id) == ("in_progress", world.alice.pk)

    box = page.locator("#id_code")
    assert is_focused(box)
    for done, serial in enumerate(["AK-COUNT-1", "AK-COUNT-3"], start=1):
        page.locator("#id_code").type(serial)
        page.locator("#id_code").press("Enter")
        page.get_by_test_id("scan-progress").filter(has_text=f"{done} of 3 expected").wait_for()
        assert is_focused(page.locator("#id_code"))  # ready for the next scan
        assert page.locator("#id_code").input_value() == ""
    assert list(CountScan.objects.order_by("pk").values_list("code", flat=True)) == ["AK-COUNT-1", "AK-COUNT-3"]

    page.get_by_test_id("submit-count").click()
    page.get_by_test_id("discrepancies").wait_for()
    (missing,) = Discrepancy.objects.filter(count=count)
    row = page.get_by_test_id(f"discrepancy-{missing.pk}")
    assert "missing" in row.inner_text() and "AK-COUNT-2" in row.inner_text()

    row.get_by_label("Explanation").fill("Not on the rack and not issued; nobody knows where it is")
    row.get_by_label("Open a loss case").check()
    row.get_by_role("button", name="Resolve").click()
    page.get_by_test_id(f"discrepancy-{missing.pk}").filter(has_text="Loss case opened").wait_for()

    case = LossCase.objects.get(item=rifles[1])
    assert (case.kind, case.status, case.last_armory_id) == ("unaccounted", "open", world.armory_a.pk)
    missing.refresh_from_db()
    assert (missing.resolution, missing.loss_case_id) == ("loss_case", case.pk)
    with pytest.raises(Refused) as refusal:
        services.issue(item=rifles[1], member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "item_lost"
    assert ledger.verify().ok

    page.goto(f"{live_server.url}/custody/losses/")
    assert "AK-COUNT-2" in page.get_by_test_id("loss-cases").inner_text()
    page.goto(f"{live_server.url}/items/{rifles[1].pk}/")
    page.get_by_test_id("open-loss-case").wait_for()
    assert problems == []
