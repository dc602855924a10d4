"""The periodic recall scan, as the worker and the CLI run it."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from muster.custody import services, tasks
from muster.custody.models import Recall
from muster.custody.testing import make_item
from muster.members.models import Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def lapsed_holder(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    Member.objects.filter(pk=world.bob_member.pk).update(vetting_valid_until=timezone.localdate() - timedelta(days=1))
    return item


def test_the_periodic_job_opens_recalls(lapsed_holder):
    assert tasks.scan_for_recalls.call_local() == 1
    assert Recall.objects.get().item == lapsed_holder


def test_the_cli_scans_and_lists(lapsed_holder, capsys):
    call_command("recalls", "scan")
    assert "opened 1 recall(s)" in capsys.readouterr().out
    call_command("recalls", "list")
    out = capsys.readouterr().out
    assert str(lapsed_holder) in out
    assert "1 open recall(s)" in out
