"""Demo data, custody part: the inventory registered, issued and taken back through custody.services only.

A mixin of demo._Builder (which holds the roster it draws on: companies, arms rooms, members by company).
"""

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from muster.custody import handover, services
from muster.custody.models import Armory, Item, ItemType, LossCase
from muster.demo_training import REQUIRED
from muster.members import services as members_services
from muster.members.models import Account, Member

if TYPE_CHECKING:
    from muster.demo import DemoAccount

ISSUED_SHARE = 0.3  # of rifles and radios, issued to active vetted members

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


def demo_pin(member_no: str) -> str:
    return member_no[-4:]


class CustodyBuilder:
    """Registers the inventory and issues part of it; expects the roster attributes of demo._Builder."""

    rng: random.Random

    def _confirm(self, member: Member, actor: Account) -> handover.Confirmation:
        return handover.confirm(member=member, pin=demo_pin(member.member_no), actor=actor, purpose="issue")

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

    def show_recalls_and_an_override(self, accounts: list["DemoAccount"]) -> None:
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
            and not m.loss_cases.filter(closed_at=None).exists()
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
        frozen = set(LossCase.objects.filter(closed_at=None).values_list("last_member_id", flat=True))
        eligible = [m for m in eligible if needed <= self.qualified.get(m.pk, set()) and m.pk not in frozen]
        # Only what is on the shelf now: the simulated weeks before leave some items out, lost or in the workshop.
        on_shelf = set(
            Item.objects.filter(holder_armory=armory, condition=Item.Condition.SERVICEABLE)
            .exclude(pk__in=LossCase.objects.filter(closed_at=None, item__isnull=False).values("item_id"))
            .values_list("pk", flat=True)
        )
        candidates = [item for key, item in self.items.get(armory.pk, []) if key in keys and item.pk in on_shelf]
        total = sum(1 for key, _ in self.items.get(armory.pk, []) if key in keys)
        chosen = self.rng.sample(candidates, min(len(candidates), round(total * share), len(eligible)))
        holders = self.rng.sample(eligible, len(chosen))
        work = [(armory, item, member, False) for item, member in zip(chosen, holders, strict=True)]
        chosen_ids = {item.pk for item in chosen}
        spare = [item for item in candidates if item.pk not in chosen_ids]
        history = self.rng.sample(spare, min(len(spare), len(eligible), max(1, len(candidates) // 20)))
        return [(armory, item, self.rng.choice(eligible), True) for item in history] + work
