"""The roster web face: the member list and the member page, scoped by unit and role."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from muster.core.testing import make_member
from muster.members.models import Member

pytestmark = pytest.mark.django_db


def page_of(member: Member) -> str:
    return reverse("member-page", args=[member.member_no])


@pytest.mark.parametrize("url", ["/members/", "/members/M99999/"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank"])
def test_it_lists_the_members_of_the_staff_members_unit_only(client, world, who):
    client.force_login(getattr(world, who))
    response = client.get(reverse("member-index"))
    assert response.status_code == 200
    shown = {member.pk for member in response.context["page_obj"]}
    assert world.bob_member.pk in shown
    assert world.member_b.pk not in shown
    assert world.bob_member.member_no in response.content.decode()


def test_it_forbids_the_member_list_to_a_plain_member(client, world):
    client.force_login(world.bob)
    assert client.get(reverse("member-index")).status_code == 403


def test_it_searches_members_by_name_number_unit_and_status(client, world):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED, first_name="Sam", last_name="Sleeper")
    client.force_login(world.rita)
    url = reverse("member-index")

    def shown(**params):
        return {member.pk for member in client.get(url, params).context["page_obj"]}

    assert shown(q="Baker") == {world.bob_member.pk}
    assert shown(q=world.member_b.member_no) == {world.member_b.pk}
    assert world.member_b.pk not in shown(unit="A")
    assert world.member_b.pk in shown(unit="B")
    assert shown(status="suspended") == {suspended.pk}


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank", "rita"])
def test_staff_see_a_member_page_with_the_phone_number(client, world, who):
    client.force_login(getattr(world, who))
    response = client.get(page_of(world.bob_member))
    assert response.status_code == 200
    assert response.context["member"] == world.bob_member
    assert world.bob_member.phone in response.content.decode()


def test_a_member_sees_their_own_page_without_staff_extras(client, world):
    client.force_login(world.bob)
    response = client.get(page_of(world.bob_member))
    assert response.status_code == 200
    assert response.context["member"] == world.bob_member
    html = response.content.decode()
    assert world.bob_member.phone not in html  # the phone is for staff roles
    assert "Issue to this member" not in html


MEMBERS = {"alice": lambda w: w.alice.member, "bob": lambda w: w.bob_member, "member_b": lambda w: w.member_b}


@pytest.mark.parametrize(
    ("who", "whose"), [("bob", "alice"), ("bob", "member_b"), ("alice", "member_b"), ("carol", "bob")]
)
def test_it_answers_404_for_someone_else_outside_the_accounts_reach(client, world, who, whose):
    client.force_login(getattr(world, who))
    assert client.get(page_of(MEMBERS[whose](world))).status_code == 404


def test_it_answers_404_for_an_unknown_member_number(client, world):
    client.force_login(world.alice)
    assert client.get(reverse("member-page", args=["NOPE"])).status_code == 404


def test_the_member_list_query_count_does_not_grow_with_its_rows(client, world):
    client.force_login(world.alice)
    url = reverse("member-index")
    for _ in range(3):
        make_member(world.unit_a)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(url).context["page_obj"]) == 5
    for _ in range(35):
        make_member(world.unit_a)
    with CaptureQueriesContext(connection) as forty:
        assert len(client.get(url).context["page_obj"]) == 40
    assert len(forty) == len(five)


def test_the_admin_manages_units_members_and_accounts_with_their_roles(client, world):
    from muster.members.models import Account

    client.force_login(Account.objects.create_superuser("root", password="x" * 12))
    for name in ["members_unit", "members_member", "members_account"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    page = client.get(reverse("admin:members_account_change", args=[world.alice.pk]))
    assert page.status_code == 200
    assert "roles-TOTAL_FORMS" in page.content.decode()  # the role assignments inline
    assert client.get(reverse("admin:members_account_add")).status_code == 200
