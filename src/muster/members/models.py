from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone


class Unit(models.Model):
    """A node in the organisation tree (region → battalion → company → platoon/post), of any depth.

    `path` is a materialised path of primary keys ("/1/4/9/") so that "this unit and everything below it" is one
    indexed prefix query, which every permission check needs.
    """

    class Kind(models.TextChoices):
        REGION = "region", "Region"
        BATTALION = "battalion", "Battalion"
        COMPANY = "company", "Company"
        PLATOON = "platoon", "Platoon"
        POST = "post", "Post"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=32, unique=True, help_text="Short unique code, e.g. N-1BN-A")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=255, editable=False, db_index=True, default="")

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        if self.pk and self.parent_id:
            parent = Unit.objects.get(pk=self.parent_id)
            if parent.path.startswith(self.path):
                raise ValidationError({"parent": "A unit cannot be placed under itself or one of its sub-units."})

    @transaction.atomic
    def save(self, *args, **kwargs) -> None:
        old_path = self.path
        super().save(*args, **kwargs)
        parent_path = Unit.objects.get(pk=self.parent_id).path if self.parent_id else "/"
        new_path = f"{parent_path}{self.pk}/"
        if new_path != old_path:
            Unit.objects.filter(pk=self.pk).update(path=new_path)
            self.path = new_path
            if old_path:
                # The unit moved: rewrite the prefix of every descendant.
                for descendant in Unit.objects.filter(path__startswith=old_path).exclude(pk=self.pk):
                    Unit.objects.filter(pk=descendant.pk).update(path=new_path + descendant.path[len(old_path) :])

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def subtree(self) -> models.QuerySet["Unit"]:
        return Unit.objects.filter(path__startswith=self.path)

    def ancestors(self) -> models.QuerySet["Unit"]:
        ids = [int(part) for part in self.path.strip("/").split("/") if part]
        return Unit.objects.filter(pk__in=ids).order_by("path")


class Member(models.Model):
    class Status(models.TextChoices):
        APPLICANT = "applicant", "Applicant"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        DEPARTED = "departed", "Departed"

    member_no = models.CharField(max_length=32, unique=True, help_text="Membership number, printed on the badge")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="members")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.APPLICANT)
    is_veteran = models.BooleanField(default=False)
    vetting_valid_until = models.DateField(null=True, blank=True)
    joined_on = models.DateField(default=timezone.localdate)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name", "member_no"]
        indexes = [models.Index(fields=["unit", "status"])]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.member_no})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def vetting_is_valid(self, on=None) -> bool:
        on = on or timezone.localdate()
        return self.vetting_valid_until is not None and self.vetting_valid_until >= on


class Account(AbstractUser):
    """A login. Linked to the member it belongs to; what it may do comes from its `roles`."""

    member = models.OneToOneField(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="account")

    class Meta:
        ordering = ["username"]


class Role(models.TextChoices):
    COMMANDER = "commander", "Commander"
    ARMORER = "armorer", "Armorer"
    DUTY_OFFICER = "duty_officer", "Duty officer"
    AUDITOR = "auditor", "Auditor"
    MEMBER = "member", "Member"


class RoleAssignment(models.Model):
    """A role held on a unit; it applies to that unit and every unit below it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=16, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "unit", "role"],
                name="role_once_per_unit",
                violation_error_message="This account already holds that role on that unit.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} — {self.get_role_display()} of {self.unit.code}"


class StatusChange(models.Model):
    """Every change of a member's status: who, when, why. Written only by members.services."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=Member.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Member.Status.choices)
    reason = models.TextField()
    changed_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.member}: {self.from_status or '—'} → {self.to_status}"


class Vetting(models.Model):
    class Outcome(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="vettings")
    vetted_on = models.DateField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    valid_until = models.DateField(null=True, blank=True)
    vetted_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-vetted_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome="failed", valid_until=None)
                | models.Q(outcome="passed", valid_until__gt=models.F("vetted_on")),
                name="vetting_passed_has_validity",
                violation_error_message="A passed vetting is valid until a date after it; a failed one is not valid.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member} vetting {self.vetted_on}: {self.outcome}"


class DisciplinaryEntry(models.Model):
    class Kind(models.TextChoices):
        WARNING = "warning", "Warning"
        REPRIMAND = "reprimand", "Reprimand"
        SUSPENSION = "suspension", "Suspension"
        OTHER = "other", "Other"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="disciplinary_entries")
    occurred_on = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    note = models.TextField()
    recorded_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_on", "-pk"]
        verbose_name_plural = "disciplinary entries"

    def __str__(self) -> str:
        return f"{self.member}: {self.kind} on {self.occurred_on}"
