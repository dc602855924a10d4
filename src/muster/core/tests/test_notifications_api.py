"""Notifications in the API: the caller's own only, ?unread=, mark one read, mark all read; another's id is 404.

The routes live in core/api_urls_notifications.py, included from muster/api_urls.py.
"""

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.models import Notification

pytestmark = pytest.mark.django_db


def route(name: str, *args) -> str:
    return reverse(f"api:{name}", args=args)


def client_for(account) -> APIClient:
    client = APIClient()
    client.force_authenticate(account)
    return client


def note(account, subject="Recall: AK-1", *, read=False, url="/items/149/"):
    return Notification.objects.create(
        recipient=account, subject=subject, body="Bring it back.", url=url, read_at=timezone.now() if read else None
    )


def test_it_lists_the_callers_own_notifications_newest_first(world):
    older, newer = note(world.bob, "older", read=True), note(world.bob, "newer")
    note(world.alice, "alice's")
    response = client_for(world.bob).get(route("notification-list"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [newer.pk, older.pk]
    first = body["results"][0]
    assert (first["subject"], first["body"], first["url"], first["unread"], first["read_at"]) == (
        "newer", "Bring it back.", "/items/149/", True, None
    )  # fmt: skip


@pytest.mark.parametrize(("value", "subjects"), [("true", ["unread"]), ("false", ["read"])])
def test_it_filters_by_unread(world, value, subjects):
    note(world.bob, "read", read=True)
    note(world.bob, "unread")
    response = client_for(world.bob).get(route("notification-list"), {"unread": value})
    assert [row["subject"] for row in response.json()["results"]] == subjects


@pytest.mark.parametrize("query", [{"unread": "yes"}, {"unread": ""}, {"limit": "0"}])
def test_it_refuses_a_malformed_filter(world, query):
    response = client_for(world.bob).get(route("notification-list"), query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_it_marks_one_read_and_only_that_one(world):
    first, second = note(world.bob, "first"), note(world.bob, "second")
    response = client_for(world.bob).post(route("notification-read", first.pk))
    assert response.status_code == 200
    assert response.json()["id"] == first.pk and response.json()["unread"] is False
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None


def test_marking_read_again_keeps_the_first_read_time(world):
    notification = note(world.bob)
    client = client_for(world.bob)
    client.post(route("notification-read", notification.pk))
    notification.refresh_from_db()
    first = notification.read_at
    response = client.post(route("notification-read", notification.pk))
    assert response.status_code == 200
    notification.refresh_from_db()
    assert notification.read_at == first


@pytest.mark.parametrize("which", ["another's", "unknown", "not a number"])
def test_it_answers_404_for_an_id_that_is_not_the_callers(world, which):
    alices = note(world.alice)
    target = {"another's": alices.pk, "unknown": alices.pk + 1000, "not a number": "x1"}[which]
    response = client_for(world.bob).post(route("notification-read", target))
    assert response.status_code == 404
    assert response.json() == {"code": "notification_not_found", "detail": "No such notification."}
    alices.refresh_from_db()
    assert alices.read_at is None


def test_it_marks_all_the_callers_notifications_read(world):
    mine = [note(world.bob, f"n{i}") for i in range(3)] + [note(world.bob, "old", read=True)]
    alices = note(world.alice)
    response = client_for(world.bob).post(route("notifications-read-all"))
    assert response.status_code == 200 and response.json() == {"marked": 3}
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine], read_at=None).exists()
    alices.refresh_from_db()
    assert alices.read_at is None


def test_a_stranger_gets_401_and_changes_nothing(world):
    notification = note(world.bob)
    for method, path in (
        ("get", route("notification-list")),
        ("post", route("notification-read", notification.pk)),
        ("post", route("notifications-read-all")),
    ):
        assert getattr(APIClient(), method)(path).status_code == 401
    notification.refresh_from_db()
    assert notification.read_at is None


def test_the_schema_describes_the_routes(world):
    route("notification-list")
    response = client_for(world.bob).get("/api/schema/", {"format": "json"})
    paths = response.json()["paths"]
    assert {"/api/v1/notifications/", "/api/v1/notifications/{id}/read", "/api/v1/notifications/read-all"} <= set(paths)
    assert "404" in paths["/api/v1/notifications/{id}/read"]["post"]["responses"]
