"""Demo data: the weekly key handover and count of the arms room, with the discrepancies a real count turns up and
how each is settled — part of ControlsBuilder (demo_controls), split out for size.
"""

from datetime import date, timedelta

from muster.custody import counts, losses, services
from muster.custody.count_models import Count, Discrepancy
from muster.custody.models import Item
from muster.members.models import Account


class WeeklyCount:
    """The Monday count. Uses the builder's accounts, roster, clock, rng, arms_room, key, loans, _pin and
    _free_members (ControlsBuilder)."""

    def _key_handover_and_count(self, day: date, days_ago: int) -> None:
        """Monday: the duty copy of the arms-room key goes to this week's key holder (which makes a count due), and
        the arms room is counted, every discrepancy resolved, and the count countersigned."""
        armorer, duty, commander = self.accounts["armorer"], self.accounts["duty"], self.accounts["commander"]
        key = Item.objects.get(pk=self.key.pk)
        if key.holder_member_id:
            services.return_item(item=key, actor=armorer, reason="key handed back at the change of duty")
        holder = self._free_members(1, spared_too=True)[0]  # holding the key is no mishap
        self.clock.at(day, 6, 55)
        services.issue(item=key, member=holder, actor=armorer, due_at=self.clock.now + timedelta(days=7),
                       reason="duty key for the week", receiver=self._pin(holder, armorer))  # fmt: skip
        self.clock.at(day, 7, 5)
        counter = armorer if (days_ago // 7) % 2 else duty  # the counter rotates
        count = counts.start(armory=self.arms_room, actor=counter)
        shelf = dict(Item.objects.filter(pk__in=count.expected).order_by("pk").values_list("pk", "serial_number"))
        codes, extra = list(shelf.values()), {}
        if days_ago in range(14, 21):  # a rifle off its rack: found behind it, scanned back
            extra["found"] = self._pick_expected(count, "ak74m")
        if days_ago in range(7, 14):  # a bad week: every kind of discrepancy, and a pistol nobody can find
            extra = self._messy_count_codes(count)
        for key_name in ("found", "lost"):
            if key_name in extra:
                codes.remove(shelf[extra[key_name]])
        for code in extra.get("scanned", []):
            codes.insert(self.rng.randrange(len(codes) + 1), code)
        for code in codes:  # a few seconds a scan, along the racks
            self.clock.wait(self.rng.randint(3, 12))
            counts.scan(count=count, code=code, actor=counter)
        self.clock.wait(60)
        discrepancies = counts.submit(count=count, actor=counter)
        self.clock.at(day, 7, 20)
        for discrepancy in discrepancies:
            self.clock.wait(self.rng.randint(60, 240))
            self._resolve(discrepancy, counter, extra)
        self.clock.wait(300)
        counts.sign(count=count, actor=commander)

    def _pick_expected(self, count: Count, key: str, *, besides: tuple = ()) -> int:
        """An item the count expects: one of the type `key` if any is on the shelf (a small demo may have every
        rifle out), else any other."""
        of_type = Item.objects.filter(pk__in=count.expected, item_type=self.roster.types[key]).exclude(pk__in=besides)
        pks = list(of_type.values_list("pk", flat=True)) or sorted(set(count.expected) - set(besides))
        return self.rng.choice(pks)

    def _messy_count_codes(self, count: Count) -> dict:
        """What goes wrong in one count: a pistol is not on its rack (it becomes a loss case), a rifle on patrol
        is on the shelf (its holder left it without a return), a B Company rifle stands in the rack after a joint
        range day, one rifle is scanned twice and a training dummy's label matches nothing."""
        lost = self._pick_expected(count, "pm")
        extra: dict = {"lost": lost, "scanned": ["DRILL-AK-04"]}
        loans = [loan for loan in self.loans if loan.armory == self.arms_room]
        if loans:
            extra["unexpected"] = self.rng.choice(loans)
            extra["scanned"].append(extra["unexpected"].item.serial_number)
        other_room = self.roster.arms_rooms[self.roster.companies[1].pk]
        stray = Item.objects.filter(holder_armory=other_room, item_type=self.roster.types["ak74m"]).first()
        if stray is not None:
            extra["scanned"].append(stray.serial_number)
        twice = Item.objects.get(pk=self._pick_expected(count, "ak74m", besides=(lost,)))
        extra["scanned"].append(twice.serial_number)
        return extra

    EXPLAINED = {
        Discrepancy.Kind.MISSING: "Found on the cleaning bench behind the rack; scanned back and shelved.",
        Discrepancy.Kind.MISPLACED: "B Company rifle left in our rack after the joint range day; handed back to "
        "B Company's armorer the same morning.",
        Discrepancy.Kind.DUPLICATE: "Scanned twice: the counter went back along rack 2 to check a label.",
        Discrepancy.Kind.UNKNOWN: "Label of the drill rifle used for training; not a controlled item.",
    }

    def _resolve(self, discrepancy: Discrepancy, counter: Account, extra: dict) -> None:
        """Each discrepancy as a real armory settles it: the counter scans back what turned up, the commander opens
        the loss case, the armorer explains the rest."""
        armorer, commander = self.accounts["armorer"], self.accounts["commander"]
        kind, explanation = discrepancy.kind, self.EXPLAINED.get(discrepancy.kind, "")
        if kind == Discrepancy.Kind.MISSING and discrepancy.item_id == extra.get("lost"):
            resolved = counts.resolve(
                discrepancy=discrepancy, actor=commander, open_loss_case=True, place=self.arms_room.name,
                explanation="Not on its rack, not on any hand receipt, not in the workshop; the building was searched.",
            )  # fmt: skip
            self.clock.wait(1800)
            losses.record_report_to_authorities(case=resolved.loss_case, police_report_no="PR-NR-2026-1204",
                                                actor=commander)  # fmt: skip
        elif kind == Discrepancy.Kind.MISSING:
            serial = discrepancy.item.serial_number
            counts.resolve(discrepancy=discrepancy, actor=counter, scanned_code=serial, explanation=explanation)
        elif kind == Discrepancy.Kind.UNEXPECTED:
            loan = extra["unexpected"]
            counts.resolve(discrepancy=discrepancy, actor=armorer,
                           explanation=f"{loan.member} left it in the arms room after the night patrol without "
                           "handing it in; returned on the books now.")  # fmt: skip
            services.return_item(item=loan.item, actor=armorer, reason="left in the arms room, found at the count")
            self.loans.remove(loan)
        else:
            actor = counter if kind == Discrepancy.Kind.DUPLICATE else armorer
            counts.resolve(discrepancy=discrepancy, actor=actor, explanation=explanation)
