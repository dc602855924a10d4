"""The web face's frame: login and logout, the dashboard, error pages, and the no-inline-script rule."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from muster.core.errors import Invalid, NotFound, NotPermitted
from muster.core.testing import PASSWORD
from muster.core.views import page_lookup
from muster.custody import services
from muster.custody.models import Item
from muster.custody.testing import make_item

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_of_the_dashboard_to_the_login_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/"


@pytest.mark.django_db
def test_it_logs_in_and_out(client, world):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).context["user"] == world.alice
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.django_db
def test_it_refuses_a_wrong_password_with_a_message(client, world):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_dashboard_shows_staff_their_armories_and_what_is_overdue(client, world):
    late = make_item(world.armory_a, world.alice, serial="AK-LATE")
    make_item(world.armory_a, world.alice, serial="AK-HOME")
    services.issue(item=late, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(hours=1))
    make_item(world.armory_b, world.carol, serial="AK-OF-B")
    client.force_login(world.dave)
    with pytest.MonkeyPatch.context() as patch:
        # Jump two hours ahead instead of waiting: the item is now overdue.
        later = timezone.now() + timedelta(hours=2)
        patch.setattr(timezone, "now", lambda: later)
        response = client.get(reverse("home"))
    assert response.status_code == 200
    (armory,) = response.context["armories"]
    # The dashboard's five states: the late item counts as overdue, not also as issued.
    assert (armory.code, armory.states.in_armory, armory.states.issued, armory.states.overdue) == ("ARM-A", 1, 0, 1)
    assert [item.serial_number for item in response.context["overdue"]] == ["AK-LATE"]
    html = response.content.decode()
    assert "overdue" in html
    assert "AK-OF-B" not in html


@pytest.mark.django_db
def test_the_dashboard_shows_a_member_only_what_they_hold(client, world):
    mine = make_item(world.armory_a, world.alice, serial="AK-MINE")
    theirs = make_item(world.armory_a, world.alice, serial="AK-THEIRS")
    services.issue(item=mine, member=world.bob_member, actor=world.alice)
    services.issue(item=theirs, member=world.alice.member, actor=world.rita)  # an armorer never issues to themself
    client.force_login(world.bob)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert [item.pk for item in response.context["my_items"]] == [mine.pk]
    assert "armories" not in response.context
    html = response.content.decode()
    assert "AK-MINE" in html
    assert "AK-THEIRS" not in html
    assert reverse("custody-issue") not in html  # no counter links for a plain member
    assert Item.objects.get(pk=theirs.pk).holder_member == world.alice.member


@pytest.mark.django_db
def test_the_error_pages_fit_the_layout(client, world):
    client.force_login(world.bob)
    forbidden = client.get(reverse("custody-issue"))
    assert forbidden.status_code == 403
    assert "Only armorers may issue or return items." in forbidden.content.decode()
    missing = client.get("/armories/ARM-B/")
    assert missing.status_code == 404
    assert "Back to the dashboard" in missing.content.decode()


def test_page_lookup_maps_domain_errors_to_http_errors():
    with pytest.raises(Http404), page_lookup():
        raise NotFound("gone")
    with pytest.raises(PermissionDenied), page_lookup():
        raise NotPermitted("no")
    with pytest.raises(Invalid), page_lookup():
        raise Invalid("bad")


def test_no_template_has_inline_script_or_event_handlers():
    """A Content Security Policy without 'unsafe-inline' must not break any page."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    inline_style = re.compile(r"\sstyle\s*=|<style", re.IGNORECASE)
    templates = list(TEMPLATES.rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert not inline_script.search(text), template
        assert not handler.search(text), template
        assert not inline_style.search(text), template


@pytest.mark.parametrize(
    "path",
    [
        "vendor/bootstrap-5.3.9/bootstrap.min.css",
        "vendor/bootstrap-5.3.9/bootstrap.bundle.min.js",
        "vendor/htmx-2.0.11/htmx.min.js",
        "muster/muster.css",
        "muster/muster.js",
    ],
)
def test_the_pages_static_files_are_found(path):
    from django.contrib.staticfiles import finders

    assert finders.find(path), f"static {path} not found: STATICFILES_DIRS must include src/muster/static"
