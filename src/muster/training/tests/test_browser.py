"""Chromium drives training into custody: the instructor records a pass, and the rifle the qualification unlocks
is issued to the trainee at the counter."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.testing import PASSWORD
from muster.custody import ledger
from muster.custody.models import HolderKind, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.test_browser import browser_page  # noqa: F401 (the shared Chromium fixture)
from muster.training import services
from muster.training.models import MemberQualification, Trainee, TrainingSession
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.browser


def test_an_instructor_records_a_pass_that_lets_the_armorer_issue_a_rifle(
    live_server,
    purged_ledger,
    world,
    browser_page,  # noqa: F811
):
    page = browser_page
    rifle_qualification = make_qualification("rifle-ak", name="Rifle (AK)")
    course = make_course("basic-rifle", grants=[rifle_qualification])
    rifle_type = make_item_type("AK-12 rifle")
    rifle_type.required_qualifications.add(rifle_qualification)
    rifle = make_item(world.armory_a, world.alice, item_type=rifle_type, serial="AK12-BROWSER")
    # alice is the unit's armorer and, as a member, the course's instructor.
    session = services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() - timedelta(hours=1), place="Range 2",
        instructor=world.alice.member, actor=world.dave,
    )  # fmt: skip
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    bob_no = world.bob_member.member_no

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Before the course, the gate refuses the rifle and offers only a commander's override.
    page.goto(f"{live_server.url}/custody/issue/")
    page.locator("#id_serial").type("AK12-BROWSER")
    page.locator("#id_serial").press("Enter")
    page.locator("#id_member_no").type(bob_no)
    page.locator("#id_member_no").press("Enter")
    page.get_by_test_id("form-error").wait_for()
    assert "member_not_qualified" in page.get_by_test_id("form-error").inner_text()
    assert page.get_by_test_id("override").is_visible()
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()

    # The instructor records the session: ticking "passed" ticks "attended" too; one submit for the roster.
    page.goto(f"{live_server.url}/training/sessions/{session.pk}/")
    row = page.get_by_test_id(f"trainee-{bob_no}")
    row.locator("input[data-col=passed]").check()
    assert row.locator("input[data-col=attended]").is_checked()
    row.locator("input[type=text]").fill("all rounds on target")
    page.get_by_role("button", name="Record results").click()
    page.get_by_test_id("grants").wait_for()
    assert "Rifle (AK)" in page.get_by_test_id("grants").inner_text()

    session.refresh_from_db()
    assert session.status == TrainingSession.Status.COMPLETED
    trainee = Trainee.objects.get(session=session, member=world.bob_member)
    assert (trainee.attended, trainee.result, trainee.note) == (True, "passed", "all rounds on target")
    assert MemberQualification.objects.filter(
        member=world.bob_member, qualification=rifle_qualification, session=session
    ).exists()

    # Now the counter issues the rifle to bob without any override.
    page.goto(f"{live_server.url}/custody/issue/")
    page.locator("#id_serial").type("AK12-BROWSER")
    page.locator("#id_serial").press("Enter")
    page.locator("#id_member_no").type(bob_no)
    page.locator("#id_member_no").press("Enter")
    page.get_by_test_id("confirmation").wait_for()
    assert "Issued" in page.get_by_test_id("confirmation").inner_text()

    event = LedgerEvent.objects.get(item=rifle, kind="issue")
    assert (event.to_member_id, event.actor_id, event.data) == (world.bob_member.pk, world.alice.pk, {})
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_member_id) == (HolderKind.MEMBER, world.bob_member.pk)
    assert ledger.verify().ok
