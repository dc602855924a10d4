"""Demo data, the weeks before today: patrol loans and reliefs at the posts (transfers), key handovers with counts
(one found item scanned back, one count with every kind of discrepancy; in demo_counts), range days that expend
ammunition, maintenance, loss cases (stolen, lost, damaged, unaccounted), a recalled lot, overdue items, a unit's
own custody policy and a webhook with its deliveries — every one through the services.

The services stamp everything with `timezone.now()`; a DemoClock stands in for it while the history is built, so
the ledger, the counts and the charts carry believable dates (in order: the clock only moves forward).
"""

import random
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from unittest import mock

from django.utils import timezone

from muster.core import webhooks
from muster.core.models import Webhook
from muster.custody import checkpoints, counts, handover, losses, lots, maintenance, overdue, services
from muster.custody import policy as unit_policy
from muster.custody.lot_models import Lot
from muster.custody.lots import Expenditure
from muster.custody.models import Armory, Item, ItemType, LossCase
from muster.demo_counts import WeeklyCount
from muster.members.models import Account, Member, Unit
from muster.training import services as training
from muster.training.models import Course

HISTORY_DAYS = 30
WEBHOOK_EVENTS = ["custody.loss", "custody.recover", "custody.transfer"]
# Days before today with a relief at a post (a rifle handed from member to member); a relief that finds no rifle out
# or nobody free to take it over happens on the next day that does.
TRANSFER_DAYS = (12, 6, 3)
LOT_TYPES = {
    "ball545": ("5.45×39 mm ball cartridge", ItemType.Category.AMMUNITION, "5.45×39 mm"),
    "pm918": ("9×18 mm PM ball cartridge", ItemType.Category.AMMUNITION, "9×18 mm"),
    "battery": ("AA battery (radios, detectors)", ItemType.Category.CONSUMABLE, ""),
}


class DemoClock:
    """What `timezone.now()` answers while running(): a moment the builder moves forward."""

    def __init__(self, start: datetime):
        self.now = start

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        moment = timezone.make_aware(datetime.combine(day, time(hour, minute)))
        self.now = max(self.now + timedelta(seconds=1), moment)  # never backwards
        return self.now

    def wait(self, seconds: int) -> datetime:
        """Let `seconds` pass (a scanner working along a rack)."""
        self.now += timedelta(seconds=seconds)
        return self.now

    @contextmanager
    def running(self) -> Iterator["DemoClock"]:
        with mock.patch.object(timezone, "now", lambda: self.now):
            yield self


@dataclass
class Loan:
    item: Item
    member: Member
    armory: Armory
    due_day: date


class ControlsBuilder(WeeklyCount):
    """Builds the simulated weeks for a demo._Builder `roster` (companies, arms rooms, members, staff accounts)."""

    def __init__(self, roster, accounts: dict[str, Account], courses: dict[str, Course], clock: DemoClock):
        self.roster = roster
        self.rng: random.Random = roster.rng
        self.accounts = accounts
        self.courses = courses
        self.clock = clock
        self.today = timezone.localdate()
        self.company = roster.companies[0]
        self.arms_room = roster.arms_rooms[self.company.pk]
        self.loans: list[Loan] = []
        self.reliefs_owed = 0
        # One rifleman of the company is never picked for the mishaps (a loss freezes its last custodian), so that
        # even a small demo has someone to hand a rifle to today: the `member` account.
        riflemen = [m for m in self._eligible(self.company) if self._qualified(m, "ak74m")]
        self.spared = riflemen[0].pk if riflemen else None

    def _pin(self, member: Member, actor: Account, purpose: str = "issue") -> handover.Confirmation:
        return handover.confirm(member=member, pin=self.roster_pin(member), actor=actor, purpose=purpose)

    def roster_pin(self, member: Member) -> str:
        from muster.demo_custody import demo_pin

        return demo_pin(member.member_no)

    def _eligible(self, company: Unit) -> list[Member]:
        return [m for m in self.roster.members_by_company.get(company.pk, []) if self.roster._may_hold(m)]

    # --- before the weeks begin ----------------------------------------------------------------------------------

    def stock(self) -> None:
        """Keys and a seal for the arms room, a workshop, inspection dates, and ammunition and batteries by lot."""
        armorer = self.accounts["armorer"]
        key_type, _ = ItemType.objects.get_or_create(name="Arms room key", defaults={"category": ItemType.Category.KEY})
        seal_type, _ = ItemType.objects.get_or_create(
            name="Numbered door seal", defaults={"category": ItemType.Category.SEAL}
        )
        self.key = services.register_item(
            item_type=key_type, serial_number=f"KEY-{self.arms_room.code}-1", home_armory=self.arms_room,
            actor=armorer, opens_armory=self.arms_room, reason="arms room key, duty copy",
        )  # fmt: skip
        services.register_item(
            item_type=key_type, serial_number=f"KEY-{self.arms_room.code}-2", home_armory=self.arms_room,
            actor=armorer, opens_armory=self.arms_room, reason="arms room key, spare in the commander's safe",
        )  # fmt: skip
        services.register_item(
            item_type=seal_type, serial_number=f"SEAL-{self.rng.randint(100000, 999999)}", home_armory=self.arms_room,
            actor=armorer, opens_armory=self.arms_room, reason="door seal",
        )  # fmt: skip
        self.workshop = Armory.objects.create(
            code=f"WS-{self.arms_room.code.removeprefix('ARM-')}", name=f"{self.company.name} armourer's workshop",
            unit=self.company, kind=Armory.Kind.WORKSHOP, address=self.arms_room.address,
        )  # fmt: skip
        # Inspection is configuration and history of the shelves, not custody: set directly.
        ItemType.objects.filter(category=ItemType.Category.FIREARM).update(inspection_interval_days=180)
        for item in Item.objects.filter(item_type__category=ItemType.Category.FIREARM).only("pk"):
            inspected = self.today - timedelta(days=self.rng.randint(20, 240))
            Item.objects.filter(pk=item.pk).update(last_inspected_on=inspected)
        self.lots: dict[str, Lot] = {}
        for key, number, quantity in (
            ("ball545", "7N6-2019-114", 6000), ("ball545", "7N6-2016-082", 2000), ("pm918", "57-N-181S-2020-07", 1000),
            ("battery", "AA-2025-03", 400),
        ):  # fmt: skip
            name, category, calibre = LOT_TYPES[key]
            item_type, _ = ItemType.objects.get_or_create(
                name=name, defaults={"category": category, "calibre": calibre}
            )
            lots.receive(
                item_type=item_type, lot_number=number, armory=self.arms_room, quantity=quantity, actor=armorer,
                delivery_ref=f"DN-{self.rng.randint(1000, 9999)}",
            )  # fmt: skip
            self.lots[number] = Lot.objects.get(item_type=item_type, lot_number=number)
        self._unit_policy()
        # The regional operations centre wants to hear of losses, recoveries and transfers. Its address never
        # resolves (.invalid): the demo stands in for the endpoint when it delivers (deliver_webhooks).
        self.webhook = Webhook.objects.create(
            url="https://ops-centre.invalid/hooks/muster", secret=f"{self.rng.getrandbits(160):040x}",
            events=WEBHOOK_EVENTS, description="Regional operations centre: losses, recoveries, transfers (demo)",
        )  # fmt: skip

    def _unit_policy(self) -> None:
        """The battalion commander sets B Company's own custody policy: short loans, daily counts, a quick
        escalation. Its platoons and posts inherit it; every other unit keeps the site defaults."""
        company = self.roster.companies[1]
        unit_policy.set_unit_policy(
            unit=company, actor=self.accounts["commander"], default_loan_hours=12, overdue_escalation_hours=4,
            count_frequency="daily",
        )  # fmt: skip

    # --- the weeks -------------------------------------------------------------------------------------------------

    def weeks(self) -> None:
        start = self.today - timedelta(days=HISTORY_DAYS)
        # The demo delivers the webhooks itself each evening (deliver_webhooks): no job goes to the worker's queue.
        with mock.patch.object(webhooks, "_nudge", lambda: None):
            for offset in range(HISTORY_DAYS):
                day = start + timedelta(days=offset)
                days_ago = HISTORY_DAYS - offset
                self.clock.at(day, 6, 50)
                if day.weekday() == 0:
                    self._key_handover_and_count(day, days_ago)
                self._returns(day)
                self.reliefs_owed += days_ago in TRANSFER_DAYS
                if self.reliefs_owed and self._relief_at_a_post(day):  # before the patrols take who is free
                    self.reliefs_owed -= 1
                self._patrol_loans(day)
                if day.weekday() == 2:
                    self._range_day(day)
                self._events_of(days_ago, day)
                self._deliver_webhooks(day, days_ago)
                self.roster.progress("history", offset + 1, HISTORY_DAYS)

    def _deliver_webhooks(self, day: date, days_ago: int) -> None:
        """What the worker does every minute, once an evening: the operations centre takes the day's deliveries,
        until three days ago, since when it is unreachable (those wait for a retry, with the error)."""
        self.clock.at(day, 23, 50)

        def post(delivery) -> None:
            if days_ago <= 3:
                raise urllib.error.URLError(f"{self.webhook.url}: Name or service not known")

        with mock.patch.object(webhooks, "_post", post):
            webhooks.deliver_pending(now=self.clock.now)

    def _patrol_loans(self, day: date) -> None:
        self.clock.at(day, 7, 30)
        for company in self.roster.companies:
            armory = self.roster.arms_rooms[company.pk]
            actor = self.roster._actor_for(armory)
            busy = {loan.member.pk for loan in self.loans} | self._frozen()
            free = [m for m in self._eligible(company) if m.pk not in busy and self._qualified(m, "ak74m")]
            shelf = list(
                Item.objects.filter(
                    holder_armory=armory, item_type=self.roster.types["ak74m"], condition=Item.Condition.SERVICEABLE
                ).exclude(pk__in=self._lost_items())[:40]
            )
            wanted = self.rng.randint(1, 4) + (3 if day.weekday() >= 5 else 0)
            for item, member in zip(self.rng.sample(shelf, min(wanted, len(shelf), len(free))), free, strict=False):
                length = self.rng.choice((1, 1, 2, 3, 4))
                due = timezone.make_aware(datetime.combine(day + timedelta(days=length), time(19, 0)))
                services.issue(item=item, member=member, actor=actor, due_at=due, reason="patrol",
                               receiver=self._pin(member, actor))  # fmt: skip
                self.loans.append(Loan(item, member, armory, due.date()))

    def _returns(self, day: date) -> None:
        self.clock.at(day, 7, 0)
        for loan in [loan for loan in self.loans if loan.due_day < day]:
            services.return_item(item=loan.item, actor=self.roster._actor_for(loan.armory), reason="back from patrol")
            self.loans.remove(loan)

    def _qualified(self, member: Member, key: str) -> bool:
        from muster.demo_training import REQUIRED

        return set(REQUIRED.get(key, [])) <= self.roster.qualified.get(member.pk, set())

    def _range_day(self, day: date) -> None:
        """Wednesday: a range session of the company; each shooter draws 60 rounds, and at the end what was not
        fired comes back and the rest is expended against the session."""
        commander, armorer = self.accounts["commander"], self.accounts["armorer"]
        shooters = [m for m in self._free_members(50) if self._qualified(m, "ak74m")][:5]
        if not shooters:
            return
        self.clock.at(day, 8, 0)
        session = training.schedule_session(
            course=self.courses["basic-weapons"], unit=self.company, starts_at=self.clock.now + timedelta(hours=1),
            place=f"{self.company.name} range", actor=commander,
        )  # fmt: skip
        training.enroll(session=session, members=shooters, actor=commander)
        ammo = self.lots["7N6-2019-114"]
        self.clock.at(day, 8, 40)
        for member in shooters:
            lots.issue(lot=ammo, member=member, quantity=60, actor=armorer, reason="range day",
                       due_at=self.clock.now + timedelta(hours=10), receiver=self._pin(member, armorer))  # fmt: skip
        self.clock.at(day, 16, 0)
        results = [training.Result(member=m, attended=True, passed=True) for m in shooters]
        training.record_results(session=session, results=results, actor=commander)
        self.clock.at(day, 16, 30)
        short = (self.today - day).days in range(7, 14)  # one week, one shooter cannot account for 3 rounds
        for index, member in enumerate(shooters):
            returned = self.rng.randint(4, 15)
            missing = 3 if short and index == 0 else 0
            result = lots.settle(lot=ammo, member=member, returned=returned, expended=60 - returned - missing,
                                 actor=armorer, expenditure=Expenditure("training_session", str(session.pk)),
                                 place=session.place)  # fmt: skip
            if result.loss_case:
                losses.record_report_to_authorities(case=result.loss_case, police_report_no="PR-NR-2026-1187",
                                                    actor=commander)  # fmt: skip

    def _events_of(self, days_ago: int, day: date) -> None:
        """The one-off happenings, on fixed days before today."""
        armorer, commander = self.accounts["armorer"], self.accounts["commander"]
        if days_ago == 12:  # two rifles to the workshop
            self.clock.at(day, 10, 0)
            self.sent = list(Item.objects.filter(holder_armory=self.arms_room, item_type=self.roster.types["ak74m"])
                             .exclude(pk__in=[loan.item.pk for loan in self.loans])[:2])  # fmt: skip
            reasons = ("Gas tube loose; replace retaining pin", "Rear sight does not hold zero")
            for item, reason in zip(self.sent, reasons, strict=False):
                maintenance.send(item=item, workshop=self.workshop, actor=armorer, reason=reason)
        if days_ago == 5 and getattr(self, "sent", None):
            self.clock.at(day, 14, 0)
            maintenance.receive(item=self.sent[0], actor=armorer, condition=Item.Condition.SERVICEABLE,
                                notes="Pin replaced, function-checked, 10 rounds test-fired")  # fmt: skip
        if days_ago == 6:  # an old lot goes out on patrol; two days later it is recalled
            self.clock.at(day, 18, 0)
            old = self.lots["7N6-2016-082"]
            for member in self._free_members(2):
                lots.issue(lot=old, member=member, quantity=30, actor=armorer, reason="night patrol",
                           due_at=self.clock.now + timedelta(days=5), receiver=self._pin(member, armorer))  # fmt: skip
        if days_ago == 4:
            self.clock.at(day, 9, 0)
            lots.recall(lot=self.lots["7N6-2016-082"], actor=commander,
                        reason="Misfires reported by 2nd Battalion; return every round of this lot")  # fmt: skip
        if days_ago in (9, 3):
            self._loss(days_ago, day)
        if days_ago == 10:
            self._damaged(day)
        if days_ago == 6 and getattr(self, "stolen_case", None):
            self.clock.at(day, 11, 0)
            losses.recover(case=self.stolen_case, armory=self.arms_room, actor=armorer,
                           notes="Recovered by the police from a pawn shop in Millbridge; serial checked.")  # fmt: skip
        if days_ago == 4:  # three loans that will not come back in time: overdue today
            self.clock.at(day, 19, 30)
            for member in [m for m in self._free_members(20) if self._qualified(m, "radio")][:3]:
                item = self._on_shelf("radio")
                if item:
                    services.issue(item=item, member=member, actor=armorer, due_at=self.clock.now + timedelta(days=2),
                                   reason="relay post", receiver=self._pin(member, armorer))  # fmt: skip

    def _on_shelf(self, key: str) -> Item | None:
        """A serviceable item of the type in the arms room now."""
        return Item.objects.filter(
            holder_armory=self.arms_room, item_type=self.roster.types[key], condition=Item.Condition.SERVICEABLE
        ).first()

    def _lost_items(self) -> set[int]:
        return set(LossCase.objects.filter(closed_at=None, item__isnull=False).values_list("item_id", flat=True))

    def _relief_at_a_post(self, day: date) -> bool:
        """Morning relief at a post: the rifle goes from the member coming off the night straight to the one taking
        over, both typing their PINs on the duty officer's device; the ledger records a transfer with both
        confirmations.

        Any patrol rifle of the duty officer's battalion will do, so that a small demo (a handful of members per
        company) still finds a qualified member of the same company who is free to take one over."""
        duty = self.accounts["duty"]
        company_of = {armory.pk: company_pk for company_pk, armory in self.roster.arms_rooms.items()}
        companies = {c.pk: c for c in self.roster.companies if c.parent_id == self.company.parent_id}
        unavailable = self._frozen() | {self.spared} | {loan.member.pk for loan in self.loans}
        for loan in self.rng.sample(self.loans, len(self.loans)):
            company = companies.get(company_of.get(loan.armory.pk))
            if company is None or loan.due_day < day or loan.member.pk in self._frozen():
                continue
            relief = [m for m in self._eligible(company) if m.pk not in unavailable and self._qualified(m, "ak74m")]
            if relief:
                break
        else:
            return False
        receiver = self.rng.choice(relief)
        posts = list(Unit.objects.filter(parent=company, kind=Unit.Kind.POST))
        post = posts[0].name if posts else "the bridge checkpoint"
        self.clock.at(day, 7, 15)
        giver, taker = self._pin(loan.member, duty, "transfer"), self._pin(receiver, duty, "transfer")
        services.transfer(item=loan.item, to_member=receiver, actor=duty, giver=giver, receiver=taker,
                          reason=f"relief at {post}")  # fmt: skip
        loan.member = receiver
        return True

    def _damaged(self, day: date) -> None:
        """A drone detector falls off the vehicle rack while loading: damaged beyond use, a case to account for."""
        detector = (
            Item.objects.filter(holder_armory=self.arms_room, item_type=self.roster.types["detector"])
            .exclude(pk__in=self._lost_items())
            .first()
        )
        if detector is None:
            return
        self.clock.at(day, 15, 10)
        case = losses.open_case(
            item=detector, kind=LossCase.Kind.DAMAGED, actor=self.accounts["armorer"], occurred_at=self.clock.now,
            circumstances="Fell from the vehicle rack while loading; housing cracked, antenna port torn out. "
            "Does not power on.",
            place=f"{self.arms_room.name}, loading bay",
        )  # fmt: skip
        self.clock.at(day, 17, 0)
        losses.record_report_to_authorities(case=case, police_report_no="PROP-1BN-2026-031",
                                            actor=self.accounts["commander"])  # fmt: skip

    def _frozen(self) -> set[int]:
        return set(LossCase.objects.filter(closed_at=None).values_list("last_member_id", flat=True))

    def _free_members(self, how_many: int, *, spared_too: bool = False) -> list[Member]:
        """Members of the arms room's company who may draw something now (not frozen by an open loss case), but
        the spared rifleman unless `spared_too`."""
        frozen = self._frozen() | (set() if spared_too else {self.spared})
        free = [m for m in self._eligible(self.company) if m.pk not in frozen]
        return self.rng.sample(free, min(how_many, len(free)))

    def _loss(self, days_ago: int, day: date) -> None:
        """Nine days ago a night-vision monocular is stolen and later recovered; three days ago a radio (or, in a
        small demo, another monocular) is lost on patrol and nobody reports it to the authorities in time."""
        armorer, commander = self.accounts["armorer"], self.accounts["commander"]
        pairs = (
            (item, member)
            for key in (("nvm",) if days_ago == 9 else ("radio", "nvm"))  # a small demo may have no radio left
            if (item := self._on_shelf(key)) is not None
            # Riflemen last: a small company needs its few riflemen unfrozen for today's issues.
            for member in sorted(self._free_members(20), key=lambda m: self._qualified(m, "ak74m"))
            if self._qualified(member, key)
        )
        item, member = next(pairs, (None, None))
        if item is None:
            return
        self.clock.at(day, 18, 0)
        services.issue(item=item, member=member, actor=armorer, due_at=self.clock.now + timedelta(days=1),
                       reason="night post", receiver=self._pin(member, armorer))  # fmt: skip
        self.clock.at(day, 23, 10)
        stolen = days_ago == 9
        case = losses.open_case(
            item=item, kind="stolen" if stolen else "lost", actor=commander, occurred_at=self.clock.now,
            circumstances="Taken from the guard hut while the post was relieved." if stolen
            else "Dropped from a vest pouch during the patrol; search at first light found nothing.",
            place="Checkpoint Bridge" if stolen else "Ridge patrol route, sector 4",
            police_report_no="PR-NR-2026-1032" if stolen else "",
        )  # fmt: skip
        if stolen:
            self.stolen_case = case  # recovered three days later (_events_of)

    # --- today -----------------------------------------------------------------------------------------------------

    def today_jobs(self) -> None:
        """What the worker would have done by now: overdue escalation, loss deadlines, due counts, a checkpoint."""
        overdue.scan()
        losses.escalate_overdue()
        counts.schedule()
        if not checkpoints.key_path().exists():
            checkpoints.generate_key()
        checkpoints.make_checkpoint()
