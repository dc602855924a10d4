"""The demo's training side: qualifications, courses, past and planned sessions, vetting records.

Past sessions are recorded through training.services.record_results, so every grant in the demo is one a real
instructor could have made. Dates are spread so the demo shows valid, expiring and expired qualifications.
"""

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from django.db.models import Max
from django.utils import timezone

from muster.members.models import Account, Member, StatusChange, Unit, Vetting
from muster.training import services
from muster.training.models import Course, MemberQualification, Qualification

# code: (name, validity in days)
QUALIFICATIONS = {
    "rifle-ak": ("Rifle, AK family", 365),
    "pistol": ("Pistol", 365),
    "marksman": ("Marksman rifle", 365),
    "counter-drone": ("Counter-drone operator", 180),
    "driver": ("Vehicle driver (4×4)", 730),
    "first-aid": ("First aid", 730),
}
# demo item-type key: qualifications it requires (radios and night-vision need none)
REQUIRED = {
    "ak74m": ["rifle-ak"],
    "akm": ["rifle-ak"],
    "pm": ["pistol"],
    "svd": ["rifle-ak", "marksman"],
    "jammer": ["counter-drone"],
    "detector": ["counter-drone"],
    "truck": ["driver"],
}
# code: (name, qualifications granted)
COURSES = {
    "basic-weapons": ("Basic weapons handling and rifle qualification", ["rifle-ak"]),
    "pistol": ("Pistol qualification", ["pistol"]),
    "marksman": ("Marksman course", ["marksman"]),
    "counter-drone": ("Counter-drone operator course", ["counter-drone"]),
    "driver": ("Vehicle driver course (4×4)", ["driver"]),
    "first-aid": ("First aid", ["first-aid"]),
}
# For the basic weapons course: how many days ago members' sessions were held, with weights. 350 days ago
# expires within the month; 400 days ago has expired.
RIFLE_SESSION_AGES = ((30, 0.25), (120, 0.35), (220, 0.18), (350, 0.12), (400, 0.10))


class TrainingBuilder:
    def __init__(self, *, rng: random.Random, admin: Account, progress: Callable[[str, int, int], None]):
        self.rng = rng
        self.admin = admin
        self.progress = progress
        self.today = timezone.localdate()
        self.qualifications: dict[str, Qualification] = {}
        self.courses: dict[str, Course] = {}

    def catalogue(self, item_types: dict) -> None:
        """Qualifications, courses, and which item types require what."""
        for code, (name, days) in QUALIFICATIONS.items():
            self.qualifications[code] = Qualification.objects.create(code=code, name=name, validity_days=days)
        for code, (name, grants) in COURSES.items():
            course = Course.objects.create(code=code, name=name)
            course.grants.set([self.qualifications[grant] for grant in grants])
            self.courses[code] = course
        for key, codes in REQUIRED.items():
            if key in item_types:
                item_types[key].required_qualifications.set([self.qualifications[code] for code in codes])

    def roster_records(self, members: list[Member]) -> None:
        """The status and vetting history that bulk-created members would otherwise lack."""
        changes, vettings = [], []
        for member in members:
            joined = datetime.combine(member.joined_on, time(9), tzinfo=timezone.get_current_timezone())
            changes.append(
                StatusChange(
                    member=member,
                    from_status="",
                    to_status=Member.Status.APPLICANT,
                    reason="application received",
                    changed_by=self.admin,
                    changed_at=joined,
                )
            )
            if member.status != Member.Status.APPLICANT:
                changes.append(
                    StatusChange(
                        member=member,
                        from_status=Member.Status.APPLICANT,
                        to_status=Member.Status.ACTIVE,
                        reason="vetted and sworn in",
                        changed_by=self.admin,
                        changed_at=joined + timedelta(days=14),
                    )
                )
            if member.status in (Member.Status.SUSPENDED, Member.Status.DEPARTED):
                reason = "disciplinary investigation" if member.status == Member.Status.SUSPENDED else "moved away"
                changes.append(
                    StatusChange(
                        member=member,
                        from_status=Member.Status.ACTIVE,
                        to_status=member.status,
                        reason=reason,
                        changed_by=self.admin,
                        changed_at=timezone.now() - timedelta(days=self.rng.randint(3, 60)),
                    )
                )
            if member.vetting_valid_until is not None:
                vetted_on = min(member.vetting_valid_until - timedelta(days=730), self.today - timedelta(days=1))
                vettings.append(
                    Vetting(
                        member=member,
                        vetted_on=vetted_on,
                        outcome=Vetting.Outcome.PASSED,
                        valid_until=member.vetting_valid_until,
                        vetted_by=self.admin,
                        notes="background check and interview",
                    )
                )
        StatusChange.objects.bulk_create(changes, batch_size=1000)
        Vetting.objects.bulk_create(vettings, batch_size=1000)

    def _session(self, course: str, unit: Unit, days_ago: int, place: str, instructor: Member | None):
        starts = datetime.combine(
            self.today - timedelta(days=days_ago), time(9), tzinfo=timezone.get_current_timezone()
        )
        return services.schedule_session(
            course=self.courses[course],
            unit=unit,
            starts_at=starts,
            place=place,
            instructor=instructor,
            actor=self.admin,
        )

    def _run(
        self,
        course: str,
        unit: Unit,
        days_ago: int,
        place: str,
        trainees: list[Member],
        pass_rate: float,
        instructor: Member | None = None,
    ) -> None:
        if not trainees:
            return
        session = self._session(course, unit, days_ago, place, instructor)
        services.enroll(session=session, members=trainees, actor=self.admin)
        results = []
        for member in trainees:
            attended = self.rng.random() < 0.95
            passed = attended and self.rng.random() < pass_rate
            note = "" if passed else ("absent" if not attended else "did not meet the standard")
            results.append(services.Result(member=member, attended=attended, passed=passed, note=note))
        services.record_results(session=session, results=results, actor=self.admin)

    def past_sessions(
        self,
        companies: list[Unit],
        battalions: list[Unit],
        by_company: dict,
        by_battalion: dict,
        instructors: dict[int, Member],
    ) -> None:
        """Completed sessions: rifle qualification per company at spread dates, specialist courses per battalion."""
        steps = len(companies) + len(battalions)
        for done, company in enumerate(companies, start=1):
            trained = [m for m in by_company.get(company.pk, []) if m.status == Member.Status.ACTIVE]
            groups: dict[int, list[Member]] = {}
            for index, member in enumerate(trained):
                age = self.rng.choices([a for a, _ in RIFLE_SESSION_AGES], [w for _, w in RIFLE_SESSION_AGES])[0]
                if len(trained) >= 5 and index < 2:  # every company shows one expired and one expiring soon
                    age = (400, 350)[index]
                groups.setdefault(age, []).append(member)
            for age, members in sorted(groups.items()):
                self._run(
                    "basic-weapons", company, age, f"{company.name} range", members, 0.92, instructors.get(company.pk)
                )
            pistol = [m for m in trained if self.rng.random() < 0.12]
            self._run("pistol", company, 90, f"{company.name} range", pistol, 0.9, instructors.get(company.pk))
            self.progress("training", done, steps)
        for done, battalion in enumerate(battalions, start=len(companies) + 1):
            active = [m for m in by_battalion.get(battalion.pk, []) if m.status == Member.Status.ACTIVE]
            self._run("counter-drone", battalion, 60, "Battalion training area", self._share(active, 0.3), 0.85)
            self._run("counter-drone", battalion, 170, "Battalion training area", self._share(active, 0.05), 0.9)
            self._run("driver", battalion, 200, "Motor pool", self._share(active, 0.3), 0.9)
            self._run("marksman", battalion, 45, "Long range", self._share(active, 0.06), 0.7)
            self._run("first-aid", battalion, 2, "Drill hall", self._share(active, 0.4), 0.95)  # this week
            self.progress("training", done, steps)

    def prior_service(self, members: list[Member]) -> None:
        """Veterans recognised for what they qualified for in the army, with the evidence noted."""
        for member in members:
            if not member.is_veteran or member.status != Member.Status.ACTIVE or self.rng.random() < 0.5:
                continue
            granted = self.today - timedelta(days=self.rng.randint(30, 200))
            services.record_prior_service(
                member=member,
                qualification=self.qualifications["rifle-ak"],
                granted_on=granted,
                expires_on=granted + timedelta(days=365),
                actor=self.admin,
                evidence=f"Military service record, discharge papers no. {self.rng.randint(10000, 99999)}",
            )

    def planned_sessions(self, companies: list[Unit], battalions: list[Unit], instructors: dict[int, Member]):
        """Upcoming sessions for the calendar: refreshers for those whose rifle qualification runs out."""
        soon = self.today + timedelta(days=45)
        expiring = set(
            MemberQualification.objects.filter(qualification=self.qualifications["rifle-ak"])
            .values("member_id")
            .annotate(latest=Max("expires_on"))
            .filter(latest__lte=soon)
            .values_list("member_id", flat=True)
        )
        for offset, company in enumerate(companies):
            session = self._session(
                "basic-weapons", company, -(1 + 2 * offset), f"{company.name} range", instructors.get(company.pk)
            )
            roster = Member.objects.filter(
                pk__in=expiring, unit__path__startswith=company.path, status=Member.Status.ACTIVE
            )
            services.enroll(session=session, members=list(roster), actor=self.admin)
        for offset, battalion in enumerate(battalions):
            self._session("counter-drone", battalion, -(14 + 7 * offset), "Battalion training area", None)
            self._session("first-aid", battalion, -(21 + 7 * offset), "Drill hall", None)

    def valid_codes(self, until: date) -> dict[int, set[str]]:
        """member id → codes of the qualifications they hold valid through `until`."""
        held: dict[int, set[str]] = {}
        rows = MemberQualification.objects.filter(expires_on__gte=until).values_list("member_id", "qualification__code")
        for member_id, code in rows:
            held.setdefault(member_id, set()).add(code)
        return held

    def _share(self, members: list[Member], share: float) -> list[Member]:
        return self.rng.sample(members, min(len(members), round(len(members) * share)))
