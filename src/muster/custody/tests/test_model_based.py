"""A Hypothesis state machine drives random custody operations — register, issue, return, transfer, loss,
recovery, counts, and lot quantities (issue, return, settle, recovery) — and checks, after each, that the state
equals the model, that replaying the ledger equals the state (verify) and that refusals left everything untouched."""

import itertools

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from muster.core.errors import Invalid, Refused
from muster.core.testing import make_account, make_member, make_unit
from muster.custody import counts, handover, ledger, losses, lot_losses, lots, services
from muster.custody.count_models import Discrepancy
from muster.custody.lot_models import LotBalance
from muster.custody.lots import Expenditure
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent, LossCase
from muster.custody.testing import make_item, make_lot
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
        # A second armorer: counts rotate their counter and need a second signature.
        self.armorers = [self.armorer, make_account(f"hyp-armorer2-{n}", roles=[(Role.ARMORER, unit)])]
        self.members = [make_member(unit) for _ in range(3)]
        self.members.append(make_member(unit, status=Member.Status.SUSPENDED))
        for index, member in enumerate(self.members):
            handover.set_pin(member=member, pin=f"{5800 + index * 13}", actor=self.armorer)
        self.lost: set[int] = set()
        self.items: list[Item] = []
        self.model: dict[int, tuple[str, int]] = {}  # item id -> (holder kind, holder id)
        self.lot = make_lot(self.armories[0], self.armorer, quantity=200)
        self.lot_model: dict[tuple[str, int], int] = {(HolderKind.ARMORY, self.armories[0].pk): 200}
        self.lot_cases: dict[int, int] = {}  # open lot loss case id -> the frozen member's id
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
        expected_ok = (
            self.model[item.pk][0] == HolderKind.ARMORY
            and member.status == Member.Status.ACTIVE
            and item.pk not in self.lost
            and not self.frozen(member)
        )
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
        expected_ok = self.model[item.pk][0] == HolderKind.MEMBER and item.pk not in self.lost
        try:
            services.return_item(item=item, actor=self.armorer, armory=armory)
        except Refused:
            assert not expected_ok
            return
        assert expected_ok
        self.model[item.pk] = (HolderKind.ARMORY, armory.pk)
        self.events += 1

    def frozen(self, member) -> bool:
        item_case = any(self.model[pk] == (HolderKind.MEMBER, member.pk) for pk in self.lost)
        return item_case or member.pk in self.lot_cases.values()

    def pin(self, member) -> str:
        return f"{5800 + self.members.index(member) * 13}"

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def transfer(self, data):
        item = data.draw(st.sampled_from(self.items))
        to = data.draw(st.sampled_from(self.members))
        holder = self.model[item.pk]
        expected_ok = (
            holder[0] == HolderKind.MEMBER
            and holder[1] != to.pk
            and item.pk not in self.lost
            and to.status == Member.Status.ACTIVE
            and not self.frozen(to)
        )
        if holder[0] != HolderKind.MEMBER:
            giver = handover.confirm(member=to, pin=self.pin(to), actor=self.armorer, purpose="transfer")
        else:
            giver_member = next(m for m in self.members if m.pk == holder[1])
            giver = handover.confirm(
                member=giver_member, pin=self.pin(giver_member), actor=self.armorer, purpose="transfer"
            )
        receiver = handover.confirm(member=to, pin=self.pin(to), actor=self.armorer, purpose="transfer")
        try:
            services.transfer(item=item, to_member=to, actor=self.armorer, giver=giver, receiver=receiver)
        except (Refused, Invalid):
            assert not expected_ok
            return
        assert expected_ok
        self.model[item.pk] = (HolderKind.MEMBER, to.pk)
        self.events += 1

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def lose(self, data):
        item = data.draw(st.sampled_from(self.items))
        try:
            losses.open_case(
                item=item,
                kind="lost",
                circumstances="gone",
                occurred_at=timezone.now(),
                place="post",
                actor=self.armorer,
            )
        except Refused:
            assert item.pk in self.lost
            return
        assert item.pk not in self.lost
        self.lost.add(item.pk)
        self.events += 1

    @precondition(lambda self: self.lost)
    @rule(data=st.data())
    def recover(self, data):
        pk = data.draw(st.sampled_from(sorted(self.lost)))
        armory = data.draw(st.sampled_from(self.armories))
        case = LossCase.objects.get(item_id=pk, closed_at=None)
        losses.recover(case=case, armory=armory, actor=self.armorer, notes="found")
        self.lost.discard(pk)
        self.model[pk] = (HolderKind.ARMORY, armory.pk)
        self.events += 1

    # --- counts ---------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def count(self, data):
        """Count an armory scanning a random selection of items: the discrepancies are exactly what the model
        predicts (missing, misplaced, unexpected); every discrepancy is resolved (missing items scanned back), then a
        second armorer signs."""
        armory = data.draw(st.sampled_from(self.armories))
        counter, signer = data.draw(st.permutations(self.armorers))
        try:
            count = counts.start(armory=armory, actor=counter)
        except Refused as refusal:
            assert refusal.code == "same_counter"
            return
        on_shelf = {pk for pk, holder in self.model.items() if holder == (HolderKind.ARMORY, armory.pk)}
        assert set(count.expected) == on_shelf - self.lost
        scanned = data.draw(st.lists(st.sampled_from(self.items), max_size=6, unique_by=lambda item: item.pk))
        for item in scanned:
            counts.scan(count=count, code=item.serial_number, actor=counter)
        found = counts.submit(count=count, actor=counter)
        scanned_ids = {item.pk for item in scanned}
        kinds = {(discrepancy.kind, discrepancy.item_id) for discrepancy in found}
        expected_kinds = {(Discrepancy.Kind.MISSING, pk) for pk in set(count.expected) - scanned_ids}
        for pk in scanned_ids - set(count.expected):
            held_by_member = self.model[pk][0] == HolderKind.MEMBER
            expected_kinds.add((Discrepancy.Kind.UNEXPECTED if held_by_member else Discrepancy.Kind.MISPLACED, pk))
        assert kinds == expected_kinds
        for discrepancy in found:  # every discrepancy resolved before the signature; a missing item is scanned back
            code = discrepancy.item.serial_number if discrepancy.kind == Discrepancy.Kind.MISSING else ""
            counts.resolve(discrepancy=discrepancy, actor=signer, explanation="checked by hand", scanned_code=code)
        counts.sign(count=count, actor=signer)

    # --- lots -------------------------------------------------------------------------------------------------------

    def lot_held(self, holder) -> int:
        return self.lot_model.get(holder, 0)

    def lot_move(self, source, target, quantity):
        if source is not None:
            self.lot_model[source] = self.lot_held(source) - quantity
        if target is not None:
            self.lot_model[target] = self.lot_held(target) + quantity

    @rule(data=st.data(), quantity=st.integers(1, 90))
    def issue_lot(self, data, quantity):
        member = data.draw(st.sampled_from(self.members))
        store = (HolderKind.ARMORY, self.armories[0].pk)
        expected_ok = (
            self.lot_held(store) >= quantity and member.status == Member.Status.ACTIVE and not self.frozen(member)
        )
        try:
            lots.issue(lot=self.lot, member=member, quantity=quantity, actor=self.armorer)
        except Refused:
            assert not expected_ok
            return
        assert expected_ok
        self.lot_move(store, (HolderKind.MEMBER, member.pk), quantity)
        self.events += 1

    @rule(data=st.data(), quantity=st.integers(1, 90))
    def return_lot(self, data, quantity):
        member = data.draw(st.sampled_from(self.members))
        armory = data.draw(st.sampled_from(self.armories))
        expected_ok = self.lot_held((HolderKind.MEMBER, member.pk)) >= quantity
        try:
            lots.return_quantity(lot=self.lot, member=member, quantity=quantity, actor=self.armorer, armory=armory)
        except Refused:
            assert not expected_ok
            return
        assert expected_ok
        self.lot_move((HolderKind.MEMBER, member.pk), (HolderKind.ARMORY, armory.pk), quantity)
        self.events += 1

    @rule(data=st.data(), returned=st.integers(0, 60), expended=st.integers(0, 60))
    def settle_lot(self, data, returned, expended):
        member = data.draw(st.sampled_from(self.members))
        holder = (HolderKind.MEMBER, member.pk)
        held = self.lot_held(holder)
        expected_ok = held > 0 and returned + expended <= held
        try:
            result = lots.settle(lot=self.lot, member=member, returned=returned, expended=expended,
                                 actor=self.armorer, expenditure=Expenditure("incident", "INC-1"))  # fmt: skip
        except Refused:
            assert not expected_ok
            return
        assert expected_ok
        self.lot_move(holder, (HolderKind.ARMORY, self.armories[0].pk), returned)
        self.lot_move(holder, None, expended)
        missing = held - returned - expended
        self.lot_move(holder, None, missing)
        assert (result.loss_case is not None) == (missing > 0)
        if result.loss_case:
            self.lot_cases[result.loss_case.pk] = member.pk
        self.events += bool(returned) + bool(expended) + bool(missing)

    @precondition(lambda self: self.lot_cases)
    @rule(data=st.data())
    def recover_lot(self, data):
        pk = data.draw(st.sampled_from(sorted(self.lot_cases)))
        case = LossCase.objects.get(pk=pk)
        lot_losses.recover(
            case=case, quantity=case.quantity, armory=self.armories[1], actor=self.armorer, notes="found"
        )
        del self.lot_cases[pk]
        self.lot_move(None, (HolderKind.ARMORY, self.armories[1].pk), case.quantity)
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
        balances = {
            (kind, armory_id if kind == HolderKind.ARMORY else member_id): quantity
            for kind, armory_id, member_id, quantity in LotBalance.objects.filter(lot=self.lot, quantity__gt=0)
            .values_list("holder_kind", "holder_armory_id", "holder_member_id", "quantity")
        }  # fmt: skip
        assert balances == {holder: quantity for holder, quantity in self.lot_model.items() if quantity}
        result = ledger.verify()
        assert result.ok, result.summary()


@pytest.mark.django_db
def test_replaying_the_ledger_always_equals_the_current_state():
    machine = CustodyMachine.TestCase
    machine.settings = settings(
        max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    machine().runTest()
