"""A Hypothesis state machine drives random custody operations and checks, after each, that replaying the ledger
equals the current state and that verify passes. Refusals must leave both untouched."""

import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from muster.core.errors import Refused
from muster.core.testing import make_account, make_member, make_unit
from muster.custody import ledger, services
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item
from muster.members.models import Member, Role

_worlds = itertools.count()


class CustodyMachine(RuleBasedStateMachine):
    """Each run builds its own unit, so runs share the database (and one ledger) without seeing each other."""

    @initialize()
    def build(self):
        n = next(_worlds)
        unit = make_unit(f"HYP{n}")
        self.armories = [Armory.objects.create(code=f"HYP{n}-{i}", name=f"Store {i}", unit=unit) for i in range(2)]
        self.armorer = make_account(f"hyp-armorer-{n}", roles=[(Role.ARMORER, unit)])
        self.members = [make_member(unit) for _ in range(3)]
        self.members.append(make_member(unit, status=Member.Status.SUSPENDED))
        self.items: list[Item] = []
        self.model: dict[int, tuple[str, int]] = {}  # item id -> (holder kind, holder id)
        self.events = LedgerEvent.objects.count()

    @precondition(lambda self: len(self.items) < 6)
    @rule(armory=st.integers(0, 1))
    def register(self, armory):
        item = make_item(self.armories[armory], self.armorer)
        self.items.append(item)
        self.model[item.pk] = (HolderKind.ARMORY, self.armories[armory].pk)
        self.events += 1

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def issue(self, data):
        item = data.draw(st.sampled_from(self.items))
        member = data.draw(st.sampled_from(self.members))
        expected_ok = self.model[item.pk][0] == HolderKind.ARMORY and member.status == Member.Status.ACTIVE
        try:
            services.issue(item=item, member=member, actor=self.armorer)
        except Refused:
            assert not expected_ok
            return
        assert expected_ok
        self.model[item.pk] = (HolderKind.MEMBER, member.pk)
        self.events += 1

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def give_back(self, data):
        item = data.draw(st.sampled_from(self.items))
        armory = data.draw(st.sampled_from(self.armories))
        expected_ok = self.model[item.pk][0] == HolderKind.MEMBER
        try:
            services.return_item(item=item, actor=self.armorer, armory=armory)
        except Refused:
            assert not expected_ok
            return
        assert expected_ok
        self.model[item.pk] = (HolderKind.ARMORY, armory.pk)
        self.events += 1

    @invariant()
    def state_matches_the_model_and_the_ledger(self):
        if not hasattr(self, "model"):
            return
        assert LedgerEvent.objects.count() == self.events
        for pk, kind, armory_id, member_id in Item.objects.filter(pk__in=self.model).values_list(
            "pk", "holder_kind", "holder_armory_id", "holder_member_id"
        ):
            assert (kind, armory_id if kind == HolderKind.ARMORY else member_id) == self.model[pk]
        result = ledger.verify()
        assert result.ok, result.summary()


@pytest.mark.django_db
def test_replaying_the_ledger_always_equals_the_current_state():
    machine = CustodyMachine.TestCase
    machine.settings = settings(
        max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    machine().runTest()
