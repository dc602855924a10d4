"""Helpers shared by the API tests of loss cases, maintenance and counts (test_api_losses, test_api_maintenance,
test_api_counts): a token client per account, the (status, code) of an answer, a query counter, an item to work on
and a loss case opened on it.

Fixtures are defined under their pytest name with a `_fixture` function name, so a test module imports the function
(`from ... import rifle_fixture  # noqa: F401`) and asks for `rifle` without shadowing the import."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.custody import losses
from muster.custody.models import LossCase
from muster.custody.testing import make_item

STAFF_OF_A = ["alice", "dave", "erin", "frank", "rita"]


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def post(world, who: str, url: str, body: dict | None = None):
    return client_for(getattr(world, who)).post(url, body or {}, format="json")


def answer(response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.fixture(name="rifle")
def rifle_fixture(world):
    return make_item(world.armory_a, world.alice, serial="AK-1")


def open_case(world, item, actor=None) -> LossCase:
    return losses.open_case(
        item=item, kind="lost", circumstances="Left in a patrol vehicle", place="Checkpoint North",
        occurred_at=timezone.now() - timedelta(hours=2), actor=actor or world.frank,
    )  # fmt: skip
