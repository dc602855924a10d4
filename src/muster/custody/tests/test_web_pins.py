"""The member page's handover PIN block: who sets a PIN, what it shows (set, locked, the latest entries), and that
its list keeps the page's query count flat. A member setting their own PIN types their password or current PIN as
well (ASVS 7.5.1, docs/security.md); staff setting it with the member present do not."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from muster.core.errors import Refused
from muster.core.models import AuditEvent
from muster.core.testing import PASSWORD, make_member
from muster.custody import handover, services
from muster.custody.models import HandoverAttempt, HandoverPin
from muster.custody.testing import make_item
from muster.custody.tests.test_web import login
from muster.custody.tests.test_web_handover import BOB_PIN, CARL_PIN, page_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def carl(world):
    return make_member(world.unit_a, first_name="Carl", last_name="Cooper")


@pytest.fixture
def pins(world, carl, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin=BOB_PIN, actor=world.alice)
    handover.set_pin(member=carl, pin=CARL_PIN, actor=world.alice)


# --- setting a PIN on the member page ------------------------------------------------------------------------------


def pin_url(member):
    return reverse("member-handover-pin", args=[member.member_no])


def pin_section(response):
    (section,) = [s for s in response.context["sections"] if s.template == "custody/_pin_section.html"]
    return section.context


@pytest.mark.parametrize("who", ["bob", "alice", "dave", "rita"])
def test_the_member_an_armorer_or_a_commander_sets_the_pin(client, world, who):
    actor = getattr(world, who)
    body = {"pin-new_pin": "6048", "pin-repeat_pin": "6048"}
    if who == "bob":  # his own: with his password
        body["pin-current_password"] = PASSWORD
    response = login(client, actor).post(pin_url(world.bob_member), body)
    assert response.status_code == 302 and response.url == page_of(world.bob_member)
    record = HandoverPin.objects.get(member=world.bob_member)
    assert record.set_by == actor
    assert "6048" not in record.pin_hash
    assert handover.confirm(member=world.bob_member, pin="6048", actor=world.alice, purpose="issue")


@pytest.mark.parametrize("who", ["erin", "frank"])
def test_auditors_and_duty_officers_may_not_set_a_pin(client, world, who):
    response = login(client, getattr(world, who)).post(
        pin_url(world.bob_member), {"pin-new_pin": "6048", "pin-repeat_pin": "6048"}
    )
    assert response.status_code == 403
    assert not HandoverPin.objects.exists()


def test_a_member_may_not_set_another_members_pin_and_other_units_answer_404(client, world, carl):
    login(client, world.bob)
    assert client.post(pin_url(carl), {"pin-new_pin": "6048", "pin-repeat_pin": "6048"}).status_code == 404
    login(client, world.carol)
    assert client.post(pin_url(world.bob_member), {"pin-new_pin": "6048", "pin-repeat_pin": "6048"}).status_code == 404
    assert not HandoverPin.objects.exists()


@pytest.mark.parametrize(
    ("new", "repeat", "error"),
    [("6048", "6049", "The two PINs differ"), ("1234", "1234", "[pin_weak]"), ("12", "12", "[pin_format]")],
)
def test_a_bad_new_pin_is_refused_on_the_page_and_never_echoed(client, world, new, repeat, error):
    body = {"pin-new_pin": new, "pin-repeat_pin": repeat, "pin-current_password": PASSWORD}
    response = login(client, world.bob).post(pin_url(world.bob_member), body)
    assert response.status_code == 400
    form = pin_section(response)["form"]
    assert any(error in message for messages in form.errors.values() for message in messages)
    assert f'value="{new}"' not in response.content.decode()
    assert not HandoverPin.objects.exists()


def test_the_member_page_shows_the_pin_state_and_its_own_form_to_the_member(client, world):
    login(client, world.bob)
    response = client.get(page_of(world.bob_member))
    section = pin_section(response)
    assert section["record"] is None and section["attempts"] is None
    html = response.content.decode()
    assert "Set my handover PIN" in html and 'data-testid="pin-attempts"' not in html
    handover.set_pin(member=world.bob_member, pin=BOB_PIN, actor=world.bob)
    assert 'data-testid="pin-state">set<' in client.get(page_of(world.bob_member)).content.decode()


# --- a member's own PIN: the password or the current PIN as well (G12) ----------------------------------------------


def test_a_member_setting_their_own_pin_must_give_their_password_or_current_pin(client, world, pins):
    login(client, world.bob)
    old_hash = HandoverPin.objects.get(member=world.bob_member).pin_hash
    response = client.post(pin_url(world.bob_member), {"pin-new_pin": "6048", "pin-repeat_pin": "6048"})
    assert response.status_code == 400
    assert "Type your password (or your current PIN)" in str(pin_section(response)["form"].errors)
    assert HandoverPin.objects.get(member=world.bob_member).pin_hash == old_hash
    page = client.get(page_of(world.bob_member)).content.decode()
    assert 'name="pin-current_password"' in page and 'autocomplete="current-password"' in page
    assert 'name="pin-current_pin"' in page

    response = client.post(pin_url(world.bob_member), {"pin-new_pin": "6048", "pin-repeat_pin": "6048",
                                                       "pin-current_pin": BOB_PIN})  # fmt: skip
    assert response.status_code == 302
    record = HandoverPin.objects.get(member=world.bob_member)
    assert record.set_by == world.bob and record.pin_hash != old_hash
    assert HandoverAttempt.objects.filter(member=world.bob_member, purpose="pin change", succeeded=True).count() == 1


def test_a_wrong_password_or_current_pin_changes_nothing_and_is_counted(client, world, pins, settings):
    settings.AXES_ENABLED = True
    login(client, world.bob)
    old_hash = HandoverPin.objects.get(member=world.bob_member).pin_hash
    body = {"pin-new_pin": "6048", "pin-repeat_pin": "6048", "pin-current_password": "not-bobs-password"}
    response = client.post(pin_url(world.bob_member), body, REMOTE_ADDR="10.60.0.1")
    assert response.status_code == 400 and "That is not your password." in str(pin_section(response)["form"].errors)
    failed = AuditEvent.objects.get(kind="login_failed")
    assert (failed.username, failed.ip, failed.path) == ("bob", "10.60.0.1", pin_url(world.bob_member))
    body = {"pin-new_pin": "6048", "pin-repeat_pin": "6048", "pin-current_pin": "9051"}
    response = client.post(pin_url(world.bob_member), body)
    assert response.status_code == 409 and "[pin_wrong]" in response.content.decode()
    record = HandoverPin.objects.get(member=world.bob_member)
    assert (record.pin_hash, record.failures) == (old_hash, 1)
    assert HandoverAttempt.objects.filter(member=world.bob_member, purpose="pin change", succeeded=False).exists()


def test_an_armorer_setting_their_own_pin_gives_their_password_too(client, world):
    own = world.alice.member
    login(client, world.alice)
    response = client.post(pin_url(own), {"pin-new_pin": "6048", "pin-repeat_pin": "6048"})
    assert response.status_code == 400 and not HandoverPin.objects.filter(member=own).exists()
    body = {"pin-new_pin": "6048", "pin-repeat_pin": "6048", "pin-current_password": PASSWORD}
    assert client.post(pin_url(own), body).status_code == 302
    assert HandoverPin.objects.get(member=own).set_by == world.alice


def test_staff_setting_a_members_pin_in_person_are_not_asked_for_more(client, world):
    response = login(client, world.alice).get(page_of(world.bob_member))
    form = pin_section(response)["form"]
    assert set(form.fields) == {"new_pin", "repeat_pin"}


def test_staff_see_a_locked_pin_and_the_latest_entries(client, world, pins):
    for _ in range(5):
        with pytest.raises(Refused):  # pin_wrong, the fifth time with the lock
            handover.confirm(member=world.bob_member, pin="9051", actor=world.frank, purpose="transfer")
    response = login(client, world.alice).get(page_of(world.bob_member))
    section = pin_section(response)
    assert section["locked"]
    assert [(a.succeeded, a.purpose, a.actor) for a in section["attempts"]] == [(False, "transfer", world.frank)] * 5
    html = response.content.decode()
    assert 'data-testid="pin-locked"' in html and "Set PIN with the member present" in html
    auditor = pin_section(login(client, world.erin).get(page_of(world.bob_member)))
    assert len(auditor["attempts"]) == 5 and auditor["form"] is None


def test_the_pin_entries_list_keeps_the_member_page_query_count_flat(client, world, pins, carl):
    def add(count):
        for _ in range(count):
            item = make_item(world.armory_a, world.alice)
            to_carl = handover.confirm(member=carl, pin=CARL_PIN, actor=world.alice, purpose="issue")
            services.issue(item=item, member=carl, actor=world.alice, receiver=to_carl)
            giver = handover.confirm(member=carl, pin=CARL_PIN, actor=world.frank, purpose="transfer")
            receiver = handover.confirm(member=world.bob_member, pin=BOB_PIN, actor=world.frank, purpose="transfer")
            services.transfer(item=item, to_member=world.bob_member, actor=world.frank, giver=giver, receiver=receiver)

    login(client, world.alice)
    add(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(page_of(world.bob_member)).status_code == 200
    add(12)
    with CaptureQueriesContext(connection) as many:
        response = client.get(page_of(world.bob_member))
    assert len(pin_section(response)["attempts"]) == 8
    assert len(many) == len(few)
