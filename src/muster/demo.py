"""Demo data: a volunteer defense unit a new user can explore right after `muster migrate` (`muster demo`).

Units and accounts are made by members.services; members are bulk-created (the one bulk path, for speed). Every
item enters the books through custody.services.register_item and moves only through custody.services.issue /
return_item, so the ledger is a real one and verifies. The same seed on the same day gives the same data (dates
are relative to today).
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from unittest import mock

from django.db import transaction
from django.utils import timezone

from muster.core.models import WebhookDelivery
from muster.custody import handover, ledger
from muster.custody.models import Armory, Count, HandoverPin, Item, LedgerEvent, LossCase, Lot, Recall
from muster.demo_controls import HISTORY_DAYS, ControlsBuilder, DemoClock
from muster.demo_custody import CustodyBuilder, demo_pin
from muster.demo_training import TrainingBuilder
from muster.members import services as members_services
from muster.members.models import Account, Member, Role, Unit
from muster.training.models import MemberQualification, TrainingSession

DEMO_PASSWORD = "muster-demo-2026"  # noqa: S105 printed by the command; the demo refuses to run in production mode
DEFAULT_SEED = 2026
DEFAULT_MEMBERS = 300
MIN_MEMBERS = 20
REGION_CODE = "NR"
REGION_NAME = "Northern Region"

# Common given and family names from many places, combined at random.
_FIRST_NAMES = (
    "Adrian Agnes Aino Alex Amara Ana Andrei Anja Anton Ari Astrid Ben Bogdan Camille Carlos Chloe Daniel Dana "
    "Darius Elena Elif Emil Emma Erik Eva Felix Freya Gabriel Hana Hannah Ivan Ivo Jakub Jana Jonas Julia Kai Karin "
    "Kasia Lara Lena Leo Liam Lina Luka Maja Marek Maria Marta Mateo Mia Mikael Milan Mira Nadia Nikolai Nina Noah "
    "Olga Omar Oskar Pavel Petra Rasmus Roman Sara Sofia Stefan Taras Tomas Vera Viktor Yara Zofia Zoran"
)
_LAST_NAMES = (
    "Aalto Andersen Baker Balogh Berg Bondar Carter Costa Dahl Dimitrov Eriksen Fischer Fonseca Garcia Halvorsen "
    "Horvat Ivanova Jansen Jovanovic Kaminski Karlsson Kask Klein Koval Kowalczyk Kral Laine Larsen Lindqvist "
    "Marin Melnyk Moreau Nagy Nielsen Novak Olsen Ozturk Pavlenko Petrov Popescu Quinn Reyes Rossi Rudenko Salo "
    "Santos Schmidt Sokol Stan Svoboda Tamm Tkachenko Varga Vidal Virtanen Walsh Weber Wojcik Young Zajac Zeller"
)
FIRST_NAMES, LAST_NAMES = _FIRST_NAMES.split(), _LAST_NAMES.split()
# Ranges reserved for drama and documentation (Ofcom, UK): never a real subscriber.
PHONE_PREFIXES = (
    "+44 7700 900",
    "+44 113 496 0",
    "+44 114 496 0",
    "+44 115 496 0",
    "+44 117 496 0",
    "+44 118 496 0",
    "+44 121 496 0",
    "+44 131 496 0",
    "+44 141 496 0",
    "+44 151 496 0",
    "+44 161 496 0",
    "+44 20 7946 0",
    "+44 191 498 0",
    "+44 1632 960",
)
POST_PLACES = ("North", "East", "South", "West", "River", "Bridge", "Ridge", "Harbour", "Forest", "Lake")
TOWNS = ("Northfield", "Eastbrook", "Millbridge", "Greyhaven", "Kettle Ridge", "Lowmoor")
BATTALIONS = (("1BN", "1st Battalion", "ABC"), ("2BN", "2nd Battalion", "DEF"))
ORDINALS = ("1st", "2nd", "3rd")

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class DemoAccount:
    username: str
    role: str
    unit: Unit | None
    member: Member | None
    account: Account | None = None


@dataclass
class DemoResult:
    accounts: list[DemoAccount]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    ledger_summary: str = ""


def database_has_members() -> bool:
    return Member.objects.exists()


DEMO_USERNAMES = ("admin", "commander", "armorer", "duty", "auditor", "member")


def existing_accounts() -> list[DemoAccount]:
    """The demo accounts of an already seeded database, for printing them again."""
    found = []
    accounts = Account.objects.filter(username__in=DEMO_USERNAMES).select_related("member")
    by_name = {account.username: account for account in accounts.prefetch_related("roles__unit")}
    for username in DEMO_USERNAMES:
        account = by_name.get(username)
        if account is None:
            continue
        if account.is_superuser:
            found.append(DemoAccount(username, "Superuser", None, None, account))
            continue
        for assignment in account.roles.all():
            found.append(DemoAccount(username, Role(assignment.role).label, assignment.unit, account.member, account))
    return found


def seed(*, members: int = DEFAULT_MEMBERS, seed: int = DEFAULT_SEED, progress: Progress | None = None) -> DemoResult:
    """Fill an empty database with the demo unit. The caller checks it is empty (database_has_members)."""
    if members < MIN_MEMBERS:
        raise ValueError(f"the demo needs at least {MIN_MEMBERS} members")
    started = time.monotonic()
    builder = _Builder(random.Random(seed), progress or (lambda what, done, total: None))
    # The roster and the inventory date from five weeks ago; the weeks since are simulated (demo_controls).
    clock = DemoClock(timezone.now() - timedelta(days=HISTORY_DAYS + 5))
    with transaction.atomic(), clock.running():
        builder.build_roster(members)
        accounts = builder.create_staff_accounts()
        # Training dates are counted from the real today, not the clock's.
        with mock.patch.object(timezone, "localdate", lambda *args: builder.today):
            trainer = TrainingBuilder(rng=builder.rng, admin=builder.admin, progress=builder.progress)
        trainer.roster_records(list(Member.objects.all()))
        builder.set_pins()
    with clock.running():
        builder.register_items()
    trainer.catalogue(builder.types)
    instructors = builder.instructors()
    trainer.past_sessions(
        builder.companies, builder.battalions, builder.members_by_company, builder.members_by_battalion, instructors
    )
    trainer.prior_service(list(Member.objects.filter(is_veteran=True)))
    builder.qualified = trainer.valid_codes(builder.today + timedelta(days=31))
    controls = ControlsBuilder(builder, {row.username: row.account for row in accounts}, trainer.courses, clock)
    with clock.running():
        controls.stock()
        controls.weeks()
    builder.issue_items()
    trainer.planned_sessions(builder.companies, builder.battalions, instructors)
    accounts.append(builder.create_member_account())
    builder.show_recalls_and_an_override(accounts)
    controls.today_jobs()
    counts = {
        "units": Unit.objects.count(),
        "members": Member.objects.count(),
        "armories": Armory.objects.count(),
        "items": Item.objects.count(),
        "issued": Item.objects.filter(holder_kind="member").count(),
        "open recalls": Recall.objects.filter(resolved_at=None).count(),
        "training sessions": TrainingSession.objects.count(),
        "qualifications granted": MemberQualification.objects.count(),
        "ammunition and consumable lots": Lot.objects.count(),
        "open loss cases": LossCase.objects.filter(closed_at=None).count(),
        "signed counts": Count.objects.filter(status=Count.Status.CLOSED).count(),
        "transfers at posts": LedgerEvent.objects.filter(kind=LedgerEvent.Kind.TRANSFER).count(),
        "webhook deliveries": WebhookDelivery.objects.count(),
        "ledger events": ledger.event_count(),
    }
    check = ledger.verify()
    if not check.ok:  # would be a bug in the services, never in the data
        raise RuntimeError(f"the demo ledger does not verify: {check.summary()}")
    return DemoResult(accounts, counts, time.monotonic() - started, check.summary())


class _Builder(CustodyBuilder):
    def __init__(self, rng: random.Random, progress: Progress):
        self.rng = rng
        self.progress = progress
        self.today = timezone.localdate()
        self.companies: list[Unit] = []
        self.post_places = rng.sample(POST_PLACES, len(POST_PLACES))
        self.battalions: list[Unit] = []
        self.battalion_of: dict[int, Unit] = {}  # company id -> its battalion
        self.arms_rooms: dict[int, Armory] = {}  # company id -> its arms room
        self.vehicle_parks: dict[int, Armory] = {}  # battalion id -> its vehicle park
        self.members_by_company: dict[int, list[Member]] = {}
        self.members_by_battalion: dict[int, list[Member]] = {}
        self.staff: dict[str, Member] = {}
        self.items: dict[int, list[tuple[str, Item]]] = {}  # armory id -> (type key, item)
        self.holders_in: dict[int, list[Member]] = {}  # armory id -> members now holding its items

    # --- roster ------------------------------------------------------------------------------------------

    def build_roster(self, count: int) -> None:
        self.progress("units", 0, 1)
        self.admin = Account.objects.create_superuser(username="admin", password=DEMO_PASSWORD)
        self.region = self._unit(REGION_CODE, REGION_NAME, Unit.Kind.REGION, None)
        leaves_by_company: dict[int, list[Unit]] = {}
        for code, name, letters in BATTALIONS:
            battalion = self._unit(f"{REGION_CODE}-{code}", name, Unit.Kind.BATTALION, self.region)
            self.battalions.append(battalion)
            for letter in letters:
                company = self._unit(f"{battalion.code}-{letter}", f"{letter} Company", Unit.Kind.COMPANY, battalion)
                self.battalion_of[company.pk] = battalion
                self.companies.append(company)
                leaves_by_company[company.pk] = self._create_subunits(company)
        self.progress("units", 1, 1)

        staff_units = {
            "commander": self.battalions[0],
            "duty": self.battalions[0],
            "armorer": self.companies[0],
            "auditor": self.region,
        }
        leaves = [leaf for company in self.companies for leaf in leaves_by_company[company.pk]]
        phones = self._phone_numbers(count)
        rows = []
        for number in range(1, count + 1):
            if number <= len(staff_units):
                unit, status = list(staff_units.values())[number - 1], Member.Status.ACTIVE
            elif number == len(staff_units) + 1:  # so the armorer's company always has someone to issue to
                unit, status = leaves_by_company[self.companies[0].pk][0], Member.Status.ACTIVE
            else:
                unit, status = leaves[number % len(leaves)], self._status()
            rows.append(self._member_row(number, unit, status, phones[number - 1]))
        created = Member.objects.bulk_create(rows, batch_size=500)
        self.progress("members", count, count)
        self.staff = dict(zip(staff_units, created, strict=False))

        company_of_unit = {leaf.pk: company for company in self.companies for leaf in leaves_by_company[company.pk]}
        company_of_unit.update({company.pk: company for company in self.companies})
        for member in created:
            company = company_of_unit.get(member.unit_id)
            if company is not None:
                self.members_by_company.setdefault(company.pk, []).append(member)
                self.members_by_battalion.setdefault(self.battalion_of[company.pk].pk, []).append(member)

        for company in self.companies:
            self.arms_rooms[company.pk] = Armory.objects.create(
                code=f"ARM-{company.code.removeprefix(REGION_CODE + '-')}",
                name=f"{company.name} arms room",
                unit=company,
                address=f"{self.rng.randint(2, 90)} Depot Road, {self.rng.choice(TOWNS)}",
            )
        for battalion in self.battalions:
            self.vehicle_parks[battalion.pk] = Armory.objects.create(
                code=f"VP-{battalion.code.removeprefix(REGION_CODE + '-')}",
                name=f"{battalion.name} vehicle park",
                unit=battalion,
                address=f"{self.rng.randint(2, 90)} Motor Pool Lane, {self.rng.choice(TOWNS)}",
            )

    def _unit(self, code: str, name: str, kind: str, parent: Unit | None) -> Unit:
        # A few dozen units: the service (which keeps the materialised path) is fast enough, no bulk path needed.
        return members_services.create_unit(code=code, name=name, kind=kind, parent=parent, actor=self.admin)

    def _create_subunits(self, company: Unit) -> list[Unit]:
        subunits = []
        platoons = self.rng.choice((2, 2, 3))
        for index in range(platoons):
            name = f"{ORDINALS[index]} Platoon, {company.name}"
            subunits.append(self._unit(f"{company.code}-{index + 1}PL", name, Unit.Kind.PLATOON, company))
        if platoons == 2 and self.rng.random() < 0.7:  # two or three sub-units in all
            place, number = self.post_places.pop(), self.rng.randint(1, 6)
            code = f"{company.code}-CP{place[:2].upper()}{number}"
            subunits.append(self._unit(code, f"Checkpoint {place}-{number}", Unit.Kind.POST, company))
        return subunits

    def _status(self) -> str:
        roll = self.rng.random()
        if roll < 0.80:
            return Member.Status.ACTIVE
        if roll < 0.90:
            return Member.Status.APPLICANT
        return Member.Status.SUSPENDED if roll < 0.94 else Member.Status.DEPARTED

    def _vetting(self, status: str) -> date | None:
        roll = self.rng.random()
        if status == Member.Status.APPLICANT:
            return None if roll < 0.8 else self.today + timedelta(days=self.rng.randint(200, 700))
        if status == Member.Status.ACTIVE:
            if roll < 0.80:
                return self.today + timedelta(days=self.rng.randint(60, 720))
            if roll < 0.90:
                return self.today + timedelta(days=self.rng.randint(0, 30))  # expiring: renew soon
            return self.today - timedelta(days=self.rng.randint(1, 200))
        return self.today + timedelta(days=self.rng.randint(-400, 300))

    def _member_row(self, number: int, unit: Unit, status: str, phone: str) -> Member:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        if status == Member.Status.APPLICANT:
            joined = self.today - timedelta(days=self.rng.randint(0, 60))
        else:
            joined = self.today - timedelta(days=self.rng.randint(60, 4 * 365))
        vetting = self._vetting(status) if number > 5 else self.today + timedelta(days=self.rng.randint(200, 700))
        email = f"{first}.{last}.{number}@example.org".lower() if self.rng.random() < 0.7 else ""
        return Member(
            member_no=f"{REGION_CODE}-{number:05d}",
            first_name=first,
            last_name=last,
            phone=phone,
            email=email,
            unit=unit,
            status=status,
            is_veteran=self.rng.random() < 0.2,
            vetting_valid_until=vetting,
            joined_on=joined,
        )

    def _phone_numbers(self, count: int) -> list[str]:
        mobiles = [f"{PHONE_PREFIXES[0]}{n:03d}" for n in range(1000)]
        others = [f"{prefix}{n:03d}" for prefix in PHONE_PREFIXES[1:] for n in range(1000)]
        self.rng.shuffle(mobiles)
        self.rng.shuffle(others)
        pool = mobiles + others
        return [pool[i % len(pool)] for i in range(count)]

    # --- accounts ----------------------------------------------------------------------------------------

    def _account(self, username: str, role: str, unit: Unit, member: Member) -> DemoAccount:
        account = members_services.create_account(
            username=username,
            role=role,
            unit=unit,
            member=member,
            email=member.email,
            password=DEMO_PASSWORD,
            actor=self.admin,
        )
        return DemoAccount(username, Role(role).label, unit, member, account)

    def create_staff_accounts(self) -> list[DemoAccount]:
        plan = [
            ("commander", Role.COMMANDER, self.battalions[0]),
            ("armorer", Role.ARMORER, self.companies[0]),
            ("duty", Role.DUTY_OFFICER, self.battalions[0]),
            ("auditor", Role.AUDITOR, self.region),
        ]
        accounts = [DemoAccount("admin", "Superuser", None, None, self.admin)]
        accounts += [self._account(username, role, unit, self.staff[username]) for username, role, unit in plan]
        self.armorer = accounts[2].account
        return accounts

    def set_pins(self) -> None:
        """Every member's handover PIN is the last four digits of their member number (printed by the command)."""
        HandoverPin.objects.bulk_create(
            [
                HandoverPin(
                    member=member,
                    pin_hash=handover._pin_hash(member.pk, demo_pin(member.member_no)),
                    set_at=timezone.now(),
                    set_by=self.admin,
                )
                for member in Member.objects.all()
            ]
        )

    def create_member_account(self) -> DemoAccount:
        member = self.holders_in[self.arms_rooms[self.companies[0].pk].pk][0]
        unit = Unit.objects.get(pk=member.unit_id)
        return self._account("member", Role.MEMBER, unit, member)
