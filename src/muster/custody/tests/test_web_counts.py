"""Counts on the web: the armory's count panel and history, starting, scanning (htmx), submitting, resolving (with
the page's tally kept current out of band), signing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.errors import Refused
from muster.custody import counts, services
from muster.custody.models import Count, CountScan, Discrepancy, LossCase
from muster.custody.policy import set_unit_policy
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def shelf(world):
    return [make_item(world.armory_a, world.alice, serial=f"A-{n}") for n in range(3)]


def started(world, actor=None):
    return counts.start(armory=world.armory_a, actor=actor or world.alice)


def scan_url(count):
    return reverse("count-scan", args=[count.pk])


# --- the armory panel and starting ------------------------------------------------------------------------------------


def test_the_panel_says_a_count_is_due_and_offers_to_start_one(client, world, shelf):
    client.force_login(world.alice)
    panel = client.get(reverse("armory-counts", args=["ARM-A"]), **HTMX)
    assert panel.context["due"] and panel.context["can_start"] and panel.context["last_count"] is None
    assert "Start a count" in panel.content.decode()


def test_the_panel_shows_the_last_signed_count_and_when_the_next_is_due(client, world, shelf):
    count = started(world)
    for item in shelf:
        counts.scan(count=count, code=item.serial_number, actor=world.alice)
    counts.submit(count=count, actor=world.alice)
    counts.sign(count=count, actor=world.frank)
    client.force_login(world.dave)
    panel = client.get(reverse("armory-counts", args=["ARM-A"]), **HTMX)
    assert panel.context["last_count"] == count and not panel.context["due"]
    assert panel.context["last_count"].discrepancy_total == 0
    assert not panel.context["can_start"]  # a commander signs counts, he does not count
    Count.objects.filter(pk=count.pk).update(signed_at=timezone.now() - timedelta(days=8))
    assert client.get(reverse("armory-counts", args=["ARM-A"]), **HTMX).context["due"]


def test_it_starts_a_count_and_opens_its_page(client, world, shelf):
    client.force_login(world.frank)
    response = client.post(reverse("armory-counts", args=["ARM-A"]))
    count = Count.objects.get()
    assert response.status_code == 302 and response.url == reverse("count-page", args=[count.pk])
    assert (count.status, count.counter, sorted(count.expected)) == ("in_progress", world.frank, [i.pk for i in shelf])


def test_it_refuses_a_second_count_under_way(client, world, shelf):
    first = started(world)
    client.force_login(world.frank)
    response = client.post(reverse("armory-counts", args=["ARM-A"]))
    assert response.status_code == 409 and "count_in_progress" in response.content.decode()
    assert list(Count.objects.values_list("pk", "counter")) == [(first.pk, world.alice.pk)]


@pytest.mark.parametrize("who, status", [("dave", 403), ("erin", 403), ("bob", 404), ("carol", 404)])
def test_only_the_units_armorers_and_duty_officers_start_counts(client, world, who, status):
    client.force_login(getattr(world, who))
    assert client.post(reverse("armory-counts", args=["ARM-A"])).status_code == status
    assert not Count.objects.exists()


def test_the_history_page_reads_a_flat_number_of_queries(client, world, shelf):
    set_unit_policy(unit=world.unit_a, actor=world.dave, counter_rotates=False, second_signature=False)
    client.force_login(world.alice)

    def one_count():
        count = started(world)
        counts.scan(count=count, code="A-0", actor=world.alice)
        for missing in counts.submit(count=count, actor=world.alice):  # scanned back: the count closes
            counts.resolve(discrepancy=missing, actor=world.alice, explanation="On the cleaning bench",
                           scanned_code=missing.item.serial_number)  # fmt: skip

    one_count()
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("armory-counts", args=["ARM-A"])).status_code == 200
    for _ in range(6):
        one_count()
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("armory-counts", args=["ARM-A"]))
    assert len(response.context["page_obj"]) == 7 and response.context["page_obj"][0].discrepancy_total == 2
    assert len(many) == len(few)


def test_the_history_counts_each_discrepancy_once_however_many_scans(client, world, shelf):
    """The tallies join scans and discrepancies in one query; counted without distinct, 4 scans × 1 discrepancy
    showed 4 discrepancies (the demo's count of 2026-11-16 showed 57 instead of 1)."""
    count = started(world)
    for code in ("A-0", "A-1", "A-2", "A-2"):
        counts.scan(count=count, code=code, actor=world.alice)
    (duplicate,) = counts.submit(count=count, actor=world.alice)
    assert duplicate.kind == "duplicate"
    client.force_login(world.dave)
    response = client.get(reverse("armory-counts", args=["ARM-A"]))
    (row,) = response.context["page_obj"]
    assert (row.scan_total, row.discrepancy_total, row.unresolved_total) == (4, 1, 1)
    assert 'data-testid="discrepancy-total">1 <span class="badge text-bg-danger">1 unresolved</span>' in (
        response.content.decode()
    )
    counts.resolve(discrepancy=duplicate, actor=world.dave, explanation="A-2 was scanned twice by mistake")
    counts.sign(count=count, actor=world.dave)
    panel = client.get(reverse("armory-counts", args=["ARM-A"]), **HTMX)
    assert panel.context["last_count"].discrepancy_total == 1
    assert "· 1 discrepancy</dd>" in panel.content.decode()


def test_the_panel_shows_the_units_count_rules_and_links_its_policy(client, world, shelf):
    set_unit_policy(unit=world.unit_a, actor=world.dave, count_frequency="daily", second_signature=False)
    client.force_login(world.alice)
    panel = client.get(reverse("armory-counts", args=["ARM-A"]), **HTMX)
    rules = panel.context["rules"]
    assert (rules.frequency, rules.counter_rotates, rules.second_signature) == ("daily", True, False)
    html = panel.content.decode()
    assert "Daily · the counter rotates · no second signature" in html
    assert reverse("unit-custody-policy", args=["A"]) in html


def test_it_refuses_to_start_while_an_earlier_count_is_unresolved(client, world, shelf):
    count = started(world)
    assert len(counts.submit(count=count, actor=world.alice)) == 3  # nothing scanned: three missing
    Count.objects.filter(pk=count.pk).update(status="closed", signed_by=world.dave, signed_at=timezone.now())
    client.force_login(world.frank)
    response = client.post(reverse("armory-counts", args=["ARM-A"]))
    assert response.status_code == 409 and "discrepancies_unresolved" in response.content.decode()
    assert Count.objects.count() == 1 and Discrepancy.objects.filter(resolution="").count() == 3


# --- scanning ---------------------------------------------------------------------------------------------------------


def test_a_scan_through_htmx_returns_the_running_list_with_a_fresh_box(client, world, shelf):
    count = started(world)
    client.force_login(world.alice)
    response = client.post(scan_url(count), {"code": " A-1 "}, **HTMX)
    assert response.status_code == 200
    assert response.templates[0].name == "custody/_count_scans.html"
    scan = CountScan.objects.get(count=count)
    assert (scan.code, scan.item_id) == ("A-1", shelf[1].pk)
    assert response.context["expected_found"] == 1 and response.context["scan_form"]["code"].value() is None
    assert "autofocus" in response.content.decode()


def test_it_records_an_unknown_code_and_flags_it(client, world, shelf):
    count = started(world)
    client.force_login(world.alice)
    response = client.post(scan_url(count), {"code": "ZZ-404"}, **HTMX)
    assert "unknown" in response.content.decode()
    assert CountScan.objects.get(count=count).item_id is None


def test_it_refuses_an_empty_scan(client, world, shelf):
    count = started(world)
    client.force_login(world.alice)
    response = client.post(scan_url(count), {"code": ""}, **HTMX)
    assert response.status_code == 400 and not CountScan.objects.exists()


def test_only_the_counter_scans(client, world, shelf):
    count = started(world)
    client.force_login(world.frank)
    assert client.get(reverse("count-page", args=[count.pk])).context["scan_form"] is None
    response = client.post(scan_url(count), {"code": "A-0"}, **HTMX)
    assert response.status_code == 403 and "not_the_counter" in response.content.decode()
    assert not CountScan.objects.exists()


def test_another_units_count_is_not_found(client, world, shelf):
    count = started(world)
    client.force_login(world.carol)
    assert client.get(reverse("count-page", args=[count.pk])).status_code == 404
    assert client.post(scan_url(count), {"code": "A-0"}).status_code == 404
    assert client.post(reverse("count-submit", args=[count.pk])).status_code == 404
    assert not CountScan.objects.exists() and Count.objects.get().status == "in_progress"


def test_the_count_page_reads_a_flat_number_of_queries(client, world, shelf):
    count = started(world)
    client.force_login(world.alice)
    counts.scan(count=count, code="A-0", actor=world.alice)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("count-page", args=[count.pk])).status_code == 200
    for code in ["A-1", "A-2", "A-2", "ZZ-1", "ZZ-2"]:
        counts.scan(count=count, code=code, actor=world.alice)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("count-page", args=[count.pk]))
    assert len(response.context["scans"]) == 6
    assert len(many) == len(few)


# --- submitting, resolving, signing -----------------------------------------------------------------------------------


def submitted(client, world, shelf, codes=("A-0", "A-1")):
    count = started(world)
    for code in codes:
        counts.scan(count=count, code=code, actor=world.alice)
    client.force_login(world.alice)
    response = client.post(reverse("count-submit", args=[count.pk]))
    assert response.status_code == 302
    count.refresh_from_db()
    return count


def test_submitting_lists_the_discrepancies(client, world, shelf):
    count = submitted(client, world, shelf)
    assert count.status == "submitted"
    page = client.get(reverse("count-page", args=[count.pk]))
    (missing,) = page.context["discrepancies"]
    assert (missing.kind, missing.item_id) == ("missing", shelf[2].pk)
    assert "open_loss_case" in missing.form.fields
    assert page.context["scan_form"] is None and not page.context["can_sign"]  # the counter does not sign


def test_only_the_counter_submits(client, world, shelf):
    count = started(world)
    client.force_login(world.frank)
    assert client.post(reverse("count-submit", args=[count.pk])).status_code == 403
    assert Count.objects.get().status == "in_progress" and not Discrepancy.objects.exists()
    client.force_login(world.alice)
    client.post(reverse("count-submit", args=[count.pk]))
    again = client.post(reverse("count-submit", args=[count.pk]))  # already submitted
    assert again.status_code == 409 and "count_not_open" in again.content.decode()
    assert Count.objects.get().status == "submitted"


def test_it_resolves_a_missing_item_as_found_by_scanning_it_back(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    url = reverse("count-resolve", args=[count.pk, missing.pk])
    data = {"explanation": "Was on the cleaning bench", "scanned_code": "A-2"}
    response = client.post(url, data, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Found / explained" in html and 'data-testid="scanned-back"' in html
    missing.refresh_from_db()
    rescan = CountScan.objects.get(rescan=True)
    assert (missing.resolution, missing.resolved_by, missing.loss_case, missing.found_scan) == (
        "found", world.alice, None, rescan,
    )  # fmt: skip
    assert (rescan.item, rescan.scanned_by) == (shelf[2], world.alice)


def test_it_refuses_to_call_a_missing_item_found_without_scanning_it(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    url = reverse("count-resolve", args=[count.pk, missing.pk])
    response = client.post(url, {"explanation": "Was on the cleaning bench"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 409 and "found_needs_rescan" in html and f'id="discrepancy-{missing.pk}"' in html
    missing.refresh_from_db()
    assert missing.resolution == "" and not CountScan.objects.filter(rescan=True).exists()


def test_it_refuses_a_short_explanation_with_its_code(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    url = reverse("count-resolve", args=[count.pk, missing.pk])
    response = client.post(url, {"explanation": "found", "scanned_code": "A-2"}, **HTMX)
    assert response.status_code == 400 and "explanation_missing" in response.content.decode()
    missing.refresh_from_db()
    assert missing.resolution == "" and not CountScan.objects.filter(rescan=True).exists()


def test_an_htmx_resolve_updates_the_tally_status_and_buttons_out_of_band(client, world, shelf):
    count = submitted(client, world, shelf, codes=("A-0", "A-0", "A-1"))  # A-0 twice, A-2 missing
    duplicate, missing = (Discrepancy.objects.get(count=count, kind=kind) for kind in ("duplicate", "missing"))
    client.force_login(world.dave)
    page = client.get(reverse("count-page", args=[count.pk])).content.decode()
    assert "2 unresolved of 2" in page and 'data-testid="awaiting-resolution"' in page
    assert 'data-testid="sign-count"' not in page
    first = client.post(reverse("count-resolve", args=[count.pk, duplicate.pk]),
                        {"explanation": "A-0 scanned twice by mistake"}, **HTMX)  # fmt: skip
    html = first.content.decode()
    assert first.status_code == 200 and first.templates[0].name == "custody/_count_resolved.html"
    assert '<span id="count-unresolved" class="small text-secondary" data-testid="unresolved" hx-swap-oob="true">' \
        "1 unresolved of 2</span>" in html  # fmt: skip
    assert 'id="count-actions"' in html and 'data-testid="sign-count"' not in html
    last = client.post(reverse("count-resolve", args=[count.pk, missing.pk]),
                       {"explanation": "Behind the rack, scanned", "scanned_code": "A-2"}, **HTMX)  # fmt: skip
    html = last.content.decode()
    assert "0 unresolved of 2</span>" in html
    actions = html.split('id="count-actions"')[1]
    assert 'hx-swap-oob="true"' in actions.split(">")[0] and 'data-testid="sign-count"' in actions
    assert 'id="count-scans" hx-swap-oob="true"' in html and 'data-testid="rescan"' in html
    assert Discrepancy.objects.filter(count=count, resolution="").count() == 0


def test_an_htmx_resolve_that_closes_the_count_shows_it_closed(client, world, shelf):
    set_unit_policy(unit=world.unit_a, actor=world.dave, second_signature=False)
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    response = client.post(reverse("count-resolve", args=[count.pk, missing.pk]),
                           {"explanation": "Behind the rack, scanned", "scanned_code": "A-2"}, **HTMX)  # fmt: skip
    html = response.content.decode()
    assert (
        'id="count-status" class="badge text-bg-secondary" data-testid="count-status" hx-swap-oob="true">Signed' in html
    )
    assert "0 unresolved of 1" in html
    count.refresh_from_db()
    assert count.status == "closed"


def test_it_resolves_a_missing_item_by_opening_a_loss_case(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    url = reverse("count-resolve", args=[count.pk, missing.pk])
    data = {"explanation": "Not on the rack, not issued", "open_loss_case": "on"}
    assert client.post(url, data).status_code == 302
    case = LossCase.objects.get(item=shelf[2])
    missing.refresh_from_db()
    assert (missing.resolution, missing.loss_case, case.kind) == ("loss_case", case, "unaccounted")
    with pytest.raises(Refused) as refusal:
        services.issue(item=shelf[2], member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "item_lost"


def test_it_refuses_a_resolution_without_explanation(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    url = reverse("count-resolve", args=[count.pk, missing.pk])
    response = client.post(url, {"explanation": "", "open_loss_case": "on"}, **HTMX)
    assert response.status_code == 400 and 'id="discrepancy-' in response.content.decode()
    missing.refresh_from_db()
    assert missing.resolution == "" and not LossCase.objects.exists()


def test_an_auditor_may_not_resolve(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    client.force_login(world.erin)
    assert client.get(reverse("count-page", args=[count.pk])).context["discrepancies"][0].form is None
    url = reverse("count-resolve", args=[count.pk, missing.pk])
    response = client.post(url, {"explanation": "found it"})
    assert response.status_code == 403
    assert Discrepancy.objects.get(pk=missing.pk).resolution == ""


def test_a_discrepancy_of_another_count_is_not_found(client, world, shelf):
    count = submitted(client, world, shelf)
    missing = Discrepancy.objects.get(count=count)
    other = Count.objects.create(armory=world.armory_b, status="closed")
    url = reverse("count-resolve", args=[other.pk, missing.pk])
    client.force_login(world.rita)
    assert client.post(url, {"explanation": "x"}).status_code == 404
    assert Discrepancy.objects.get(pk=missing.pk).resolution == ""


def test_a_second_person_signs_once_every_discrepancy_is_resolved(client, world, shelf):
    count = submitted(client, world, shelf)
    refused = client.post(reverse("count-sign", args=[count.pk]))
    assert refused.status_code == 409 and "same_signer" in refused.content.decode()
    client.force_login(world.dave)
    assert not client.get(reverse("count-page", args=[count.pk])).context["can_sign"]
    unresolved = client.post(reverse("count-sign", args=[count.pk]))
    assert unresolved.status_code == 409 and "discrepancies_unresolved" in unresolved.content.decode()
    assert Count.objects.get(pk=count.pk).status == "submitted"
    counts.resolve(discrepancy=Discrepancy.objects.get(count=count), actor=world.dave,
                   explanation="Behind the rack, scanned", scanned_code="A-2")  # fmt: skip
    assert client.get(reverse("count-page", args=[count.pk])).context["can_sign"]
    assert client.post(reverse("count-sign", args=[count.pk])).status_code == 302
    count.refresh_from_db()
    assert (count.status, count.signed_by) == ("closed", world.dave)
