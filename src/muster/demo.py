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

from django.db import transaction
from django.utils import timezone

from muster.custody import handover, ledger, services
from muster.custody.models import Armory, HandoverPin, Item, ItemType, Recall
from muster.demo_training import REQUIRED, TrainingBuilder
from muster.members import services as members_services
from muster.members.models import Account, Member, Role, Unit
from muster.training.models import MemberQualification, TrainingSession

DEMO_PASSWORD = "muster-demo-2026"  # noqa: S105 printed by the command; the demo refuses to run in production mode
DEFAULT_SEED = 2026
DEFAULT_MEMBERS = 300
MIN_MEMBERS = 20
REGION_CODE = "NR"
REGION_NAME = "Northern Region"
ISSUED_SHARE = 0.3  # of rifles and radios, issued to active vetted members

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

# name, category, model, calibre, default loan hours, manufacturers, first and last year made
ITEM_TYPES = {
    "ak74m": ("AK-74M assault rifle", "firearm", "AK-74M", "5.45×39 mm", None, ("Izhmash",), 1992, 2014),
    "akm": ("AKM assault rifle", "firearm", "AKM", "7.62×39 mm", None, ("Izhmash", "Tula Arms Plant"), 1960, 1976),
    "pm": ("PM pistol", "firearm", "PM", "9×18 mm", None, ("Izhmekh",), 1965, 1991),
    "svd": ("SVD marksman rifle", "firearm", "SVD", "7.62×54 mmR", None, ("Izhmash",), 1975, 1995),
    "jammer": (
        "Handheld anti-drone jammer",
        "counter_drone",
        "HJ-3 jammer",
        "",
        24,
        ("Northwind Defence",),
        2022,
        2025,
    ),
    "detector": ("Drone detector", "counter_drone", "RF-D2 detector", "", 24, ("Northwind Defence",), 2021, 2025),
    "truck": ("Pickup truck", "vehicle", "Double-cab 4×4", "", 12, ("Toyota", "Ford", "Mitsubishi"), 2008, 2021),
    "radio": (
        "Handheld VHF radio",
        "radio",
        "VHF 5 W handheld",
        "",
        None,
        ("Motorola", "Hytera", "Kenwood"),
        2015,
        2024,
    ),
    "nvm": ("Night-vision monocular", "optics", "PVS-14", "", 24, ("L3Harris", "Photonis"), 2012, 2023),
}

SERIAL_PREFIXES = {"jammer": "HJ3-", "detector": "RFD2-", "radio": "VR", "nvm": "P14-"}

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


def demo_pin(member_no: str) -> str:
    return member_no[-4:]


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
    with transaction.atomic():
        builder.build_roster(members)
        accounts = builder.create_staff_accounts()
        trainer = TrainingBuilder(rng=builder.rng, admin=builder.admin, progress=builder.progress)
        trainer.roster_records(list(Member.objects.all()))
        builder.set_pins()
    builder.register_items()
    trainer.catalogue(builder.types)
    instructors = builder.instructors()
    trainer.past_sessions(
        builder.companies, builder.battalions, builder.members_by_company, builder.members_by_battalion, instructors
    )
    trainer.prior_service(list(Member.objects.filter(is_veteran=True)))
    builder.qualified = trainer.valid_codes(builder.today + timedelta(days=31))
    builder.issue_items()
    trainer.planned_sessions(builder.companies, builder.battalions, instructors)
    accounts.append(builder.create_member_account())
    builder.show_recalls_and_an_override(accounts)
    counts = {
        "units": Unit.objects.count(),
        "members": Member.objects.count(),
        "armories": Armory.objects.count(),
        "items": Item.objects.count(),
        "issued": Item.objects.filter(holder_kind="member").count(),
        "open recalls": Recall.objects.filter(resolved_at=None).count(),
        "training sessions": TrainingSession.objects.count(),
        "qualifications granted": MemberQualification.objects.count(),
        "ledger events": ledger.event_count(),
    }
    check = ledger.verify()
    if not check.ok:  # would be a bug in the services, never in the data
        raise RuntimeError(f"the demo ledger does not verify: {check.summary()}")
    return DemoResult(accounts, counts, time.monotonic() - started, check.summary())


class _Builder:
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

    def _confirm(self, member: Member, actor: Account) -> handover.Confirmation:
        return handover.confirm(member=member, pin=demo_pin(member.member_no), actor=actor, purpose="issue")

    def create_member_account(self) -> DemoAccount:
        member = self.holders_in[self.arms_rooms[self.companies[0].pk].pk][0]
        unit = Unit.objects.get(pk=member.unit_id)
        return self._account("member", Role.MEMBER, unit, member)

    # --- custody (through the services only) -------------------------------------------------------------

    def _actor_for(self, armory: Armory) -> Account:
        return self.armorer if armory.unit_id == self.companies[0].pk else self.admin

    def _item_types(self) -> dict[str, ItemType]:
        types = {}
        for key, (name, category, model, calibre, hours, *_) in ITEM_TYPES.items():
            types[key], _ = ItemType.objects.get_or_create(
                name=name,
                defaults={"category": category, "model": model, "calibre": calibre, "default_loan_hours": hours},
            )
        return types

    def _inventory(self) -> list[tuple[str, Armory]]:
        """(type key, armory) for every item to register: about one rifle per active member, and the kit."""
        plan = []
        for company in self.companies:
            armory, people = self.arms_rooms[company.pk], self.members_by_company.get(company.pk, [])
            active = sum(1 for m in people if m.status == Member.Status.ACTIVE)
            rifles = max(4, active + self.rng.randint(0, 3))
            akms = rifles // 5
            plan += [("ak74m", armory)] * (rifles - akms) + [("akm", armory)] * akms
            plan += [("pm", armory)] * max(1, active // 15) + [("svd", armory)] * 2
            plan += [("jammer", armory)] * 2 + [("detector", armory)]
            plan += [("radio", armory)] * max(2, active // 4) + [("nvm", armory)] * max(1, active // 10)
        for battalion in self.battalions:
            plan += [("truck", self.vehicle_parks[battalion.pk])] * 6
        return plan

    def _serial(self, key: str, year: int, taken: set) -> str:
        while True:
            if key == "truck":
                serial = (
                    f"NR {self.rng.randint(100, 999)} {self.rng.choice('ABCDEFGHKLMNPRSTVX')}"
                    + f"{self.rng.choice('ABCDEFGHKLMNPRSTVX')}"
                )
            elif ITEM_TYPES[key][1] == "firearm":
                serial = f"{ITEM_TYPES[key][2][:2].upper()}{year % 100:02d}{self.rng.randint(0, 999_999):06d}"
            else:
                serial = f"{SERIAL_PREFIXES[key]}{self.rng.randint(1_000_000, 9_999_999)}"
            if (key, serial) not in taken:
                taken.add((key, serial))
                return serial

    def register_items(self) -> None:
        self.types = types = self._item_types()
        plan, taken = self._inventory(), set()
        counters: dict[int, int] = {}
        for done, (key, armory) in enumerate(plan, start=1):
            _, _, _, _, _, makers, first_year, last_year = ITEM_TYPES[key]
            year = self.rng.randint(first_year, last_year)
            counters[armory.pk] = counters.get(armory.pk, 0) + 1
            roll = self.rng.random()
            condition = (
                Item.Condition.SERVICEABLE
                if roll < 0.96
                else Item.Condition.NEEDS_REPAIR
                if roll < 0.99
                else Item.Condition.UNSERVICEABLE
            )
            item = services.register_item(
                item_type=types[key],
                serial_number=self._serial(key, year, taken),
                home_armory=armory,
                actor=self._actor_for(armory),
                condition=condition,
                manufacturer=self.rng.choice(makers),
                year_of_manufacture=year,
                markings=f"INV {armory.code}-{counters[armory.pk]:04d}",
                reason="initial inventory",
            )
            self.items.setdefault(armory.pk, []).append((key, item))
            if done % 25 == 0 or done == len(plan):
                self.progress("items", done, len(plan))

    def issue_items(self) -> None:
        """Issue about 30% of rifles and radios, a jammer per company and two trucks per battalion to active, vetted
        members, after a few issue-and-return round trips that give the ledger some history."""
        work = []
        for company in self.companies:
            armory = self.arms_rooms[company.pk]
            eligible = [m for m in self.members_by_company.get(company.pk, []) if self._may_hold(m)]
            work += self._pick_issues(armory, eligible, {"ak74m", "akm"}, ISSUED_SHARE)
            work += self._pick_issues(armory, eligible, {"radio"}, ISSUED_SHARE)
            work += self._pick_issues(armory, eligible, {"jammer"}, 0.5)
        for battalion in self.battalions:
            eligible = [m for m in self.members_by_battalion.get(battalion.pk, []) if self._may_hold(m)]
            work += self._pick_issues(self.vehicle_parks[battalion.pk], eligible, {"truck"}, 0.34)
        now = timezone.now()
        for done, (armory, item, member, returned) in enumerate(work, start=1):
            actor = self._actor_for(armory)
            if returned:  # some history: out on an exercise and back
                services.issue(
                    item=item,
                    member=member,
                    actor=actor,
                    due_at=now + timedelta(days=2),
                    reason="exercise",
                    receiver=self._confirm(member, actor),
                )
                services.return_item(item=item, actor=actor, reason="back from exercise")
            else:
                hours = self.rng.choice((4, 10, 24 * 3, 24 * 7, 24 * 7, 24 * 14, 24 * 30))
                reason = self.rng.choice(("duty", "patrol", "checkpoint shift", "training", ""))
                services.issue(
                    item=item,
                    member=member,
                    actor=actor,
                    due_at=now + timedelta(hours=hours),
                    reason=reason,
                    receiver=self._confirm(member, actor),
                )
                self.holders_in.setdefault(armory.pk, []).append(member)
            if done % 25 == 0 or done == len(work):
                self.progress("issues", done, len(work))

    def instructors(self) -> dict[int, Member]:
        """company id → an active, vetted veteran (or any active member) who teaches its courses."""
        chosen = {}
        for company in self.companies:
            active = [m for m in self.members_by_company.get(company.pk, []) if self._may_hold(m)]
            veterans = [m for m in active if m.is_veteran]
            if veterans or active:
                chosen[company.pk] = (veterans or active)[0]
        return chosen

    def show_recalls_and_an_override(self, accounts: list[DemoAccount]) -> None:
        """Two holders suspended (their items go on the recall list) and one issue a commander countersigned."""
        by_name = {row.username: row.account for row in accounts}
        arms_room = self.arms_rooms[self.companies[0].pk]
        keep = by_name["member"].member_id
        holders = [m for m in dict.fromkeys(self.holders_in.get(arms_room.pk, [])) if m.pk != keep]
        suspended = {member.pk for member in holders[:2]}
        for member in holders[:2]:
            members_services.change_status(
                member=member,
                to_status=Member.Status.SUSPENDED,
                actor=self.admin,
                reason="Disciplinary investigation: weapon left unattended",
            )
        free = Item.objects.filter(
            holder_armory=arms_room, item_type=self.types["jammer"], condition=Item.Condition.SERVICEABLE
        ).first()
        unqualified = [
            m
            for m in self.members_by_company.get(self.companies[0].pk, [])
            if self._may_hold(m)
            and "counter-drone" not in self.qualified.get(m.pk, set())
            and m.pk != keep
            and m.pk not in suspended
        ]
        if free and unqualified:
            services.issue(
                receiver=self._confirm(unqualified[0], by_name["armorer"]),
                item=free,
                member=unqualified[0],
                actor=by_name["armorer"],
                due_at=timezone.now() + timedelta(hours=12),
                reason="drone alert at the bridge checkpoint",
                override=services.Override(
                    commander=by_name["commander"],
                    reason="Trained operator on transfer from 2nd Battalion; papers follow",
                ),
            )

    def _may_hold(self, member: Member) -> bool:
        vetted = member.vetting_valid_until is not None and member.vetting_valid_until >= self.today
        return member.status == Member.Status.ACTIVE and vetted and member not in self.staff.values()

    def _pick_issues(self, armory: Armory, eligible: list[Member], keys: set[str], share: float) -> list[tuple]:
        needed = {code for key in keys for code in REQUIRED.get(key, [])}
        eligible = [m for m in eligible if needed <= self.qualified.get(m.pk, set())]
        candidates = [
            item
            for key, item in self.items.get(armory.pk, [])
            if key in keys and item.condition == Item.Condition.SERVICEABLE
        ]
        total = sum(1 for key, _ in self.items.get(armory.pk, []) if key in keys)
        chosen = self.rng.sample(candidates, min(len(candidates), round(total * share), len(eligible)))
        holders = self.rng.sample(eligible, len(chosen))
        work = [(armory, item, member, False) for item, member in zip(chosen, holders, strict=True)]
        chosen_ids = {item.pk for item in chosen}
        spare = [item for item in candidates if item.pk not in chosen_ids]
        history = self.rng.sample(spare, min(len(spare), len(eligible), max(1, len(candidates) // 20)))
        return [(armory, item, self.rng.choice(eligible), True) for item in history] + work
