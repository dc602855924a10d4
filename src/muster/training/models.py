from django.conf import settings
from django.db import models
from django.db.models import F, Q

from muster.members.models import Member, Unit


class Qualification(models.Model):
    """What a member may be trusted with, e.g. "Rifle (AK family)" or "Counter-drone operator".

    Item types name the qualifications they require (custody.ItemType.required_qualifications), so training never
    needs to know about custody.
    """

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    validity_days = models.PositiveIntegerField(default=365, help_text="How long a pass stays valid")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Course(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=160, unique=True)
    description = models.TextField(blank=True)
    grants = models.ManyToManyField(Qualification, related_name="courses", blank=True)
    validity_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides each granted qualification's own validity"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingSession(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="sessions")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="training_sessions")
    starts_at = models.DateTimeField()
    place = models.CharField(max_length=200)
    instructor = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions_taught"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    notes = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["unit", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.course.name}, {self.starts_at:%Y-%m-%d} at {self.place}"


class Trainee(models.Model):
    """A member on a session's roster, with attendance and result."""

    class Result(models.TextChoices):
        PENDING = "pending", "Pending"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="trainees")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="trainings")
    attended = models.BooleanField(null=True, blank=True)
    result = models.CharField(max_length=8, choices=Result.choices, default=Result.PENDING)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["member__last_name", "member__first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "member"],
                name="trainee_once_per_session",
                violation_error_message="This member is already on the session's roster.",
            ),
            models.CheckConstraint(
                condition=~Q(result="passed") | Q(attended=True),
                name="trainee_passed_only_if_attended",
                violation_error_message="Only a trainee who attended can pass.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.session}"


class MemberQualification(models.Model):
    """One grant of a qualification to a member. Renewals add rows; the latest expiry counts."""

    class Source(models.TextChoices):
        SESSION = "session", "Passed a training session"
        PRIOR_SERVICE = "prior_service", "Prior service"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="qualifications")
    qualification = models.ForeignKey(Qualification, on_delete=models.PROTECT, related_name="grants")
    granted_on = models.DateField()
    expires_on = models.DateField()
    source = models.CharField(max_length=16, choices=Source.choices)
    session = models.ForeignKey(TrainingSession, null=True, blank=True, on_delete=models.PROTECT, related_name="grants")
    evidence = models.TextField(blank=True, help_text="For prior service: the document or record relied on")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-expires_on"]
        indexes = [models.Index(fields=["member", "qualification", "expires_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__gt=F("granted_on")),
                name="qualification_expires_after_grant",
                violation_error_message="A qualification must expire after it is granted.",
            ),
            models.CheckConstraint(
                condition=Q(source="session", session__isnull=False) | Q(source="prior_service", session__isnull=True),
                name="qualification_source_matches_session",
            ),
            models.CheckConstraint(
                condition=~Q(source="prior_service") | ~Q(evidence=""),
                name="prior_service_needs_evidence",
                violation_error_message="A qualification from prior service needs its evidence noted.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.qualification} for {self.member} until {self.expires_on}"
