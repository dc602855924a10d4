"""Loss cases on the web: reporting from the item page, the case list with its deadline clock, the case page with
the police report number and the recovery."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import losses, services
from muster.custody.models import HolderKind, Item, LedgerEvent, LossCase
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def when(hours_ago: int = 2) -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def report(item, **fields):
    data = {"kind": "lost", "circumstances": "Left on the range bus", "occurred_at": when(), "place": "Range 2"}
    data.update(fields)
    return data


def open_case(world, item, actor=None, **fields):
    return losses.open_case(
        item=item,
        kind=fields.get("kind", "lost"),
        circumstances="Gone from the rack",
        occurred_at=timezone.now() - timedelta(hours=1),
        place="Arms room A",
        actor=actor or world.alice,
    )


# --- reporting --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "dave", "frank"])
def test_it_opens_a_loss_case_from_the_item_page(client, world, who):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    client.force_login(getattr(world, who))
    assert client.get(reverse("loss-report", args=[item.pk])).status_code == 200
    response = client.post(reverse("loss-report", args=[item.pk]), report(item, police_report_no="PR-77"))
    case = LossCase.objects.get(item=item)
    assert response.status_code == 302 and response.url == reverse("loss-page", args=[case.pk])
    assert (case.kind, case.place, case.police_report_no, case.last_member) == (
        "lost",
        "Range 2",
        "PR-77",
        world.bob_member,
    )
    assert case.opened_by == getattr(world, who) and case.authorities_notified_at is not None
    assert LedgerEvent.objects.filter(item=item, kind="loss").count() == 1


def test_it_refuses_a_loss_in_the_future_and_changes_nothing(client, world):
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.alice)
    tomorrow = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("loss-report", args=[item.pk]), report(item, occurred_at=tomorrow))
    assert response.status_code == 400
    assert "occurred_in_future" in response.content.decode()
    assert not LossCase.objects.exists() and not LedgerEvent.objects.filter(kind="loss").exists()


def test_it_refuses_a_second_case_for_an_item_already_lost(client, world):
    item = make_item(world.armory_a, world.alice)
    open_case(world, item)
    client.force_login(world.dave)
    response = client.post(reverse("loss-report", args=[item.pk]), report(item))
    assert response.status_code == 409 and "item_already_lost" in response.content.decode()
    assert LossCase.objects.count() == 1


def test_it_refuses_an_empty_report_with_field_errors(client, world):
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.alice)
    response = client.post(reverse("loss-report", args=[item.pk]), {"kind": "lost"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"circumstances", "place", "occurred_at"}
    assert not LossCase.objects.exists()


@pytest.mark.parametrize("who, status", [("erin", 403), ("bob", 403), ("carol", 404)])
def test_it_keeps_the_report_form_from_auditors_members_and_other_units(client, world, who, status):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)  # bob can see what he holds
    client.force_login(getattr(world, who))
    assert client.get(reverse("loss-report", args=[item.pk])).status_code == status
    assert client.post(reverse("loss-report", args=[item.pk]), report(item)).status_code == status
    assert not LossCase.objects.exists()


def test_the_item_panel_offers_the_report_and_shows_an_open_case(client, world):
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.frank)
    panel = client.get(reverse("item-controls", args=[item.pk]), **HTMX)
    assert panel.context["can_report"] and "Report a loss" in panel.content.decode()
    case = open_case(world, item)
    panel = client.get(reverse("item-controls", args=[item.pk]), **HTMX)
    assert panel.context["case"] == case and not panel.context["can_report"]
    assert "frozen" in panel.content.decode()
    client.force_login(world.carol)
    assert client.get(reverse("item-controls", args=[item.pk])).status_code == 404


# --- the list ---------------------------------------------------------------------------------------------------------


def test_the_list_puts_open_cases_first_with_the_deadline_clock(client, world, settings):
    early, late, back = (make_item(world.armory_a, world.alice) for _ in range(3))
    recovered = open_case(world, back)
    losses.recover(case=recovered, armory=world.armory_a, actor=world.alice, notes="Found behind the rack")
    overdue = open_case(world, early)
    LossCase.objects.filter(pk=overdue.pk).update(deadline=timezone.now() - timedelta(hours=5))
    running = open_case(world, late)
    open_case(world, make_item(world.armory_b, world.carol), actor=world.carol)  # another unit's
    client.force_login(world.dave)
    response = client.get(reverse("loss-index"))
    assert [case.pk for case in response.context["page_obj"]] == [overdue.pk, running.pk, recovered.pk]
    html = response.content.decode()
    assert "overdue by 5" in html and "left" in html
    assert 'class="text-danger fw-semibold" data-testid="deadline-clock">overdue by' in html
    only_open = client.get(reverse("loss-index"), {"show": "open"})
    assert [case.pk for case in only_open.context["page_obj"]] == [overdue.pk, running.pk]


def test_the_list_is_for_staff(client, world):
    client.force_login(world.bob)
    assert client.get(reverse("loss-index")).status_code == 403


def test_the_list_reads_a_flat_number_of_queries(client, world):
    client.force_login(world.alice)
    for _ in range(2):
        open_case(world, make_item(world.armory_a, world.alice))
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("loss-index")).status_code == 200
    for _ in range(8):
        item = make_item(world.armory_a, world.alice)
        services.issue(item=item, member=make_member(world.unit_a), actor=world.alice)  # custodians on the rows
        open_case(world, item)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("loss-index"))
    assert len(response.context["page_obj"]) == 10
    assert len(many) == len(few)


# --- the case page ----------------------------------------------------------------------------------------------------


def test_it_records_the_police_report_number(client, world):
    case = open_case(world, make_item(world.armory_a, world.alice))
    client.force_login(world.frank)
    page = client.get(reverse("loss-page", args=[case.pk]))
    assert page.context["report_form"] is not None and page.context["recover_form"] is None  # not an armorer
    response = client.post(reverse("loss-page", args=[case.pk]), {"action": "report", "police_report_no": "PR-9"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.police_report_no == "PR-9" and case.authorities_notified_at is not None


def test_it_refuses_an_empty_police_report_number(client, world):
    case = open_case(world, make_item(world.armory_a, world.alice))
    client.force_login(world.alice)
    response = client.post(reverse("loss-page", args=[case.pk]), {"action": "report", "police_report_no": " "})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.police_report_no == "" and case.authorities_notified_at is None


def test_an_auditor_reads_the_case_but_may_not_record_the_report(client, world):
    case = open_case(world, make_item(world.armory_a, world.alice))
    client.force_login(world.erin)
    page = client.get(reverse("loss-page", args=[case.pk]))
    assert page.status_code == 200 and page.context["report_form"] is None
    response = client.post(reverse("loss-page", args=[case.pk]), {"action": "report", "police_report_no": "PR-1"})
    assert response.status_code == 403 and "not_loss_reporter" in response.content.decode()
    case.refresh_from_db()
    assert case.police_report_no == ""


def test_only_an_armorer_takes_a_recovered_item_back(client, world):
    case = open_case(world, make_item(world.armory_a, world.alice))
    client.force_login(world.dave)
    data = {"action": "recover", "armory": world.armory_a.pk, "notes": "Found in the vehicle"}
    assert client.post(reverse("loss-page", args=[case.pk]), data).status_code == 403
    case.refresh_from_db()
    assert case.is_open and not LedgerEvent.objects.filter(kind="recover").exists()


def test_it_recovers_the_item_into_an_armory_and_closes_the_case(client, world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    case = open_case(world, item)
    client.force_login(world.alice)
    data = {"action": "recover", "armory": world.armory_a.pk, "condition": "needs_repair",
            "notes": "Handed in at the police station"}  # fmt: skip
    response = client.post(reverse("loss-page", args=[case.pk]), data)
    assert response.status_code == 302
    case.refresh_from_db()
    item.refresh_from_db()
    assert case.status == LossCase.Status.RECOVERED and case.closed_by == world.alice
    assert (item.holder_kind, item.holder_armory, item.condition) == (HolderKind.ARMORY, world.armory_a, "needs_repair")
    assert LedgerEvent.objects.filter(item=item, kind="recover").count() == 1


def test_it_refuses_a_recovery_without_notes_and_changes_nothing(client, world):
    item = make_item(world.armory_a, world.alice)
    case = open_case(world, item)
    client.force_login(world.alice)
    data = {"action": "recover", "armory": world.armory_a.pk, "notes": ""}
    response = client.post(reverse("loss-page", args=[case.pk]), data)
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.is_open and not LedgerEvent.objects.filter(kind="recover").exists()


def test_it_refuses_a_recovery_into_an_armory_outside_the_armorers_units(client, world):
    case = open_case(world, make_item(world.armory_a, world.alice))
    client.force_login(world.alice)
    data = {"action": "recover", "armory": world.armory_b.pk, "notes": "found"}
    response = client.post(reverse("loss-page", args=[case.pk]), data)
    assert response.status_code == 400 and "armory" in response.context["recover_form"].errors
    assert LossCase.objects.get(pk=case.pk).is_open


def test_another_units_case_is_not_found(client, world):
    case = open_case(world, make_item(world.armory_a, world.alice))
    client.force_login(world.carol)
    assert client.get(reverse("loss-page", args=[case.pk])).status_code == 404
    data = {"action": "recover", "armory": world.armory_b.pk, "notes": "found"}
    assert client.post(reverse("loss-page", args=[case.pk]), data).status_code == 404
    assert LossCase.objects.get(pk=case.pk).is_open
    assert Item.objects.get(pk=case.item_id).holder_armory == world.armory_a
