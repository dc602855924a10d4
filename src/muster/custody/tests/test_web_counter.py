"""The counter page: badge, item, PIN → issued; an issued item's scan → returned; refusals with their codes; the
payloads printed on labels and badges; scoping to the armorer's units; and a bounded number of queries per scan."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import handover, labels, losses, services
from muster.custody.models import HandoverAttempt, HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Member, Role, RoleAssignment

HTMX = {"HTTP_HX_REQUEST": "true"}
PIN = "4711"


def scan(client, code, *, member="", item="", pick=""):
    data = {"code": code, "member": member, "item": item, "pick": pick}
    return client.post(reverse("counter-scan"), data, **HTMX)


def type_pin(client, pin, *, member, item):
    return client.post(reverse("counter-pin"), {"pin": pin, "member": member, "item": item}, **HTMX)


@pytest.fixture
def armorer(client, world):
    client.force_login(world.alice)
    return client


@pytest.fixture
def pins_required(settings, world):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin=PIN, actor=world.alice)


def test_it_issues_in_three_interactions_badge_item_pin(armorer, world, pins_required):
    rifle = make_item(world.armory_a, world.alice, serial="AK-C-1")
    bob_no = world.bob_member.member_no

    first = scan(armorer, bob_no)
    assert first.status_code == 200
    assert first.context["member"] == world.bob_member
    assert 'data-testid="counter-member"' in first.content.decode()
    assert f'name="member" value="{bob_no}"' in first.content.decode()  # bob stays at the counter

    second = scan(armorer, "AK-C-1", member=bob_no)
    assert second.status_code == 200
    assert second.context["counter"].asking_pin
    assert 'id="counter-pin"' in second.content.decode() and "autofocus" in second.content.decode()
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()

    third = type_pin(armorer, PIN, member=bob_no, item=rifle.pk)
    assert third.status_code == 200
    event = LedgerEvent.objects.get(item=rifle, kind="issue")
    assert (event.to_member_id, event.actor_id) == (world.bob_member.pk, world.alice.pk)
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_member_id) == (HolderKind.MEMBER, world.bob_member.pk)
    page = third.content.decode()
    assert "Issued" in page and reverse("event-receipt", args=[event.seq]) in page
    assert f'name="member" value="{bob_no}"' in page and 'id="counter-code"' in page  # ready for the next item
    assert "AK-C-1" in third.context["counter"].event.item.serial_number
    assert [item.pk for item in third.context["holdings"]] == [rifle.pk]


def test_it_returns_an_issued_item_on_one_scan_whoever_is_at_the_counter(armorer, world):
    rifle = make_item(world.armory_a, world.alice, serial="AK-C-2")
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    someone_else = make_member(world.unit_a, first_name="Sam")

    response = scan(armorer, "AK-C-2", member=someone_else.member_no)

    assert response.status_code == 200
    event = LedgerEvent.objects.get(item=rifle, kind="return")
    assert (event.from_member_id, event.to_armory_id, event.actor_id) == (
        world.bob_member.pk,
        world.armory_a.pk,
        world.alice.pk,
    )
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_armory_id) == (HolderKind.ARMORY, world.armory_a.pk)
    page = response.content.decode()
    assert "Returned" in page and reverse("event-receipt", args=[event.seq]) in page
    assert response.context["member"] == someone_else  # still at the counter


def test_it_returns_with_no_member_at_the_counter(armorer, world):
    rifle = make_item(world.armory_a, world.alice)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)

    assert scan(armorer, rifle.serial_number).status_code == 200

    rifle.refresh_from_db()
    assert rifle.holder_kind == HolderKind.ARMORY


def test_a_wrong_pin_is_refused_and_nothing_is_issued(armorer, world, pins_required):
    rifle = make_item(world.armory_a, world.alice)
    bob_no = world.bob_member.member_no

    response = type_pin(armorer, "4712", member=bob_no, item=rifle.pk)

    assert response.status_code == 409
    assert "pin_wrong" in response.content.decode()
    assert response.context["counter"].asking_pin  # bob types it again
    assert 'id="counter-pin"' in response.content.decode()
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()
    rifle.refresh_from_db()
    assert (rifle.holder_kind, rifle.holder_member_id) == (HolderKind.ARMORY, None)
    assert list(HandoverAttempt.objects.values_list("succeeded", flat=True)) == [False]  # logged, by design


def test_a_missing_pin_is_refused_with_its_code_when_the_site_requires_one(armorer, world, pins_required):
    rifle = make_item(world.armory_a, world.alice)

    response = type_pin(armorer, "", member=world.bob_member.member_no, item=rifle.pk)

    assert response.status_code == 409
    assert "receiver_confirmation_required" in response.content.decode()
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()


def test_without_the_site_rule_an_empty_pin_issues_unconfirmed(armorer, world):
    rifle = make_item(world.armory_a, world.alice)

    response = type_pin(armorer, "", member=world.bob_member.member_no, item=rifle.pk)

    assert response.status_code == 200
    assert "receiver_confirmed" not in LedgerEvent.objects.get(item=rifle, kind="issue").data


def test_the_gate_refuses_before_anyone_types_a_pin_and_shows_each_code(armorer, world):
    rifle = make_item(world.armory_a, world.alice)
    lapsed = make_member(world.unit_a, status=Member.Status.APPLICANT, vetted_days=0)

    badge = scan(armorer, lapsed.member_no)
    card = badge.content.decode()
    assert "member_applicant" in card and "member_vetting_expired" in card  # the member card says so at once

    response = scan(armorer, rifle.serial_number, member=lapsed.member_no)

    assert response.status_code == 409
    page = response.content.decode()
    assert "member_applicant" in page and "member_vetting_expired" in page
    assert not response.context["counter"].asking_pin and 'id="counter-pin"' not in page
    assert reverse("custody-issue") in page  # both overridable: the issue form takes a commander's countersign
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()


def test_a_refused_return_shows_its_code_and_changes_nothing(armorer, world):
    rifle = make_item(world.armory_a, world.alice)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    losses.open_case(
        item=rifle, kind="lost", circumstances="Dropped on the march.", occurred_at=timezone.now() - timedelta(hours=1),
        place="Range", actor=world.alice,
    )  # fmt: skip

    response = scan(armorer, rifle.serial_number)

    assert response.status_code == 409 and "item_lost" in response.content.decode()
    rifle.refresh_from_db()
    assert rifle.holder_member_id == world.bob_member.pk
    assert not LedgerEvent.objects.filter(item=rifle, kind="return").exists()


def test_an_empty_scan_is_refused_with_its_code(armorer, world):
    response = scan(armorer, "   ")
    assert response.status_code == 400 and "scan_empty" in response.content.decode()


def test_an_item_scanned_first_waits_for_the_badge(armorer, world):
    rifle = make_item(world.armory_a, world.alice)

    first = scan(armorer, rifle.serial_number)
    assert first.status_code == 200
    assert "Scan the member&#x27;s badge" in first.content.decode()
    assert f'name="item" value="{rifle.pk}"' in first.content.decode()

    second = scan(armorer, world.bob_member.member_no, item=rifle.pk)
    assert second.context["counter"].asking_pin


def test_it_accepts_exactly_what_the_labels_and_badges_encode(armorer, world):
    rifle = make_item(world.armory_a, world.alice, serial="AK 74/0042")
    (item_label,) = labels.item_labels(Item.objects.filter(pk=rifle.pk).select_related("item_type", "home_armory"))
    (badge,) = labels.badge_labels([world.bob_member])

    assert scan(armorer, badge.payload).context["member"] == world.bob_member
    response = scan(armorer, item_label.payload, member=badge.payload)
    assert response.context["counter"].waiting == rifle
    assert response.context["counter"].asking_pin
    # A wedge scanner may add stray spaces around the code; they do not count.
    assert scan(armorer, f"  {badge.payload}  ").context["member"] == world.bob_member


def test_a_code_that_names_a_member_and_an_item_asks_which(armorer, world):
    rifle = make_item(world.armory_a, world.alice, serial=world.bob_member.member_no)

    response = scan(armorer, world.bob_member.member_no)

    assert response.status_code == 200
    assert [pick for pick, _ in response.context["counter"].choices] == ["member", f"item:{rifle.pk}"]
    assert response.context["member"] is None
    picked = scan(armorer, world.bob_member.member_no, pick=f"item:{rifle.pk}")
    assert picked.context["counter"].waiting == rifle


def test_another_units_member_and_item_are_not_found(armorer, world):
    item_b = make_item(world.armory_b, world.carol, serial="AK-B-1")
    services.issue(item=item_b, member=world.member_b, actor=world.carol)

    for code in (world.member_b.member_no, "AK-B-1", "NO-SUCH-CODE"):
        response = scan(armorer, code, member=world.bob_member.member_no)
        assert response.status_code == 404, code
        assert "scan_not_found" in response.content.decode()
    hidden = scan(armorer, "AK-B-1", member=world.member_b.member_no)
    assert hidden.status_code == 404 and "member_not_found" in hidden.content.decode()
    pin = type_pin(armorer, PIN, member=world.bob_member.member_no, item=item_b.pk)
    assert pin.status_code == 404 and "item_not_found" in pin.content.decode()
    item_b.refresh_from_db()
    assert item_b.holder_member_id == world.member_b.pk  # not returned by an armorer of another unit


def test_a_member_of_a_unit_where_the_account_is_only_staff_is_not_found(client, world):
    RoleAssignment.objects.create(account=world.alice, unit=world.unit_b, role=Role.AUDITOR)
    client.force_login(world.alice)

    response = scan(client, world.member_b.member_no)

    assert response.status_code == 404 and "scan_not_found" in response.content.decode()


def test_only_armorers_open_the_counter(client, world):
    for account in (world.bob, world.dave, world.frank, world.erin):
        client.force_login(account)
        assert client.get(reverse("counter")).status_code == 403
        assert scan(client, world.bob_member.member_no).status_code == 403
        assert type_pin(client, PIN, member=world.bob_member.member_no, item="1").status_code == 403
    client.logout()
    assert client.get(reverse("counter"))["Location"].startswith("/login/")


def test_the_page_waits_in_the_scan_box_and_loads_its_script(armorer, world):
    response = armorer.get(reverse("counter"))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="counter-code"' in page and "autofocus" in page
    assert "muster/counter.js" in page and "vendor/jsqr-1.4.0/jsQR.js" in page
    assert "<script>" not in page  # the CSP forbids inline scripts

    with_member = armorer.get(reverse("counter"), {"member": world.bob_member.member_no})
    assert with_member.context["member"] == world.bob_member


def test_without_htmx_a_scan_answers_the_whole_page(armorer, world):
    response = armorer.post(reverse("counter-scan"), {"code": world.bob_member.member_no})
    assert response.status_code == 200
    assert "<html" in response.content.decode() and response.context["member"] == world.bob_member


def test_a_scan_runs_a_bounded_number_of_queries(armorer, world, django_assert_max_num_queries):
    rifles = [make_item(world.armory_a, world.alice) for _ in range(3)]
    for rifle in rifles:
        services.issue(item=rifle, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(1))
    kit = make_item(world.armory_a, world.alice, item_type=make_item_type("Radio"))

    # The heaviest scan: a return, with a member holding several items at the counter.
    with django_assert_max_num_queries(32):
        response = scan(armorer, rifles[0].serial_number, member=world.bob_member.member_no)
    assert response.status_code == 200
    with django_assert_max_num_queries(20):
        response = scan(armorer, kit.serial_number, member=world.bob_member.member_no)
    assert response.context["counter"].asking_pin


def test_the_member_panel_shows_a_lost_item_as_reported_lost(armorer, world):
    gone = make_item(world.armory_a, world.alice, serial="AK-C-GONE")
    kept = make_item(world.armory_a, world.alice, serial="AK-C-KEPT")
    for item in (gone, kept):
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    losses.open_case(item=gone, kind="stolen", circumstances="Taken from the car.", place="Car park",
                     occurred_at=timezone.now() - timedelta(hours=2), actor=world.alice)  # fmt: skip
    response = armorer.get(reverse("counter"), {"member": world.bob_member.member_no})
    assert {item.serial_number: item.open_loss_kind for item in response.context["holdings"]} == {
        "AK-C-GONE": "stolen", "AK-C-KEPT": None,
    }  # fmt: skip
    panel = response.content.decode().split('data-testid="counter-member"')[1]
    rows = {row.split('class="serial"')[1].split("</a>")[0].split(">")[-1]: row
            for row in panel.split("<tr>")[2:]}  # fmt: skip
    assert 'data-state="lost"' in rows["AK-C-GONE"] and "reported stolen" in rows["AK-C-GONE"]
    assert 'data-state="issued"' not in rows["AK-C-GONE"]
    assert 'data-state="issued"' in rows["AK-C-KEPT"]


def test_a_member_frozen_after_the_scan_is_refused_before_the_pin_is_checked(armorer, world, pins_required):
    rifle = make_item(world.armory_a, world.alice, serial="AK-C-WAIT")
    bob_no = world.bob_member.member_no
    assert scan(armorer, "AK-C-WAIT", member=bob_no).context["counter"].asking_pin
    earlier = make_item(world.armory_a, world.alice, serial="AK-C-EARLIER")
    services.issue(
        item=earlier,
        member=world.bob_member,
        actor=world.alice,
        receiver=handover.confirm(member=world.bob_member, pin=PIN, actor=world.alice, purpose="issue"),
    )
    losses.open_case(item=earlier, kind="lost", circumstances="Not back from patrol.", place="Sector 2",
                     occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice)  # fmt: skip
    HandoverAttempt.objects.all().delete()

    response = type_pin(armorer, PIN, member=bob_no, item=rifle.pk)

    assert response.status_code == 409 and "member_frozen" in response.content.decode()
    assert not response.context["counter"].asking_pin  # back to scanning: a PIN would not help
    assert not HandoverAttempt.objects.exists()  # the PIN was not tried
    assert not LedgerEvent.objects.filter(item=rifle, kind="issue").exists()
