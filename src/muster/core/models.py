from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    """An in-app message to one account, also e-mailed (by the worker) where the account has an address.

    Shown at /notifications/ and in the navbar's unread badge; written only by core.notify.
    """

    class Email(models.TextChoices):
        NONE = "", "Not e-mailed (no address)"
        PENDING = "pending", "Waiting for the worker"
        SENT = "sent", "E-mailed"
        FAILED = "failed", "Gave up"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True, help_text="Where in Muster to look")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=8, choices=Email.choices, default=Email.NONE, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker may (re)try the e-mail; a claimed one is leased ahead"
    )
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            models.Index(fields=["email_status", "email_due_at"], name="notification_email_due"),
        ]

    def __str__(self) -> str:
        return f"to {self.recipient}: {self.subject}"

    @property
    def link(self) -> str:
        """`url` if it is a path inside Muster or an http(s) address; "" otherwise (never a javascript: link)."""
        url = self.url.strip()
        if url.startswith("/") and not url.startswith("//"):
            return url
        if url.lower().startswith(("https://", "http://")):
            return url
        return ""


class ExpiryWarning(models.Model):
    """One warning sent that a member's vetting or qualification expires soon: at most one per expiry, which the
    unique constraint enforces however often (or however many workers) the daily job runs. A renewal brings a new
    expiry date and so, in time, a new warning."""

    class Kind(models.TextChoices):
        VETTING = "vetting", "Vetting"
        QUALIFICATION = "qualification", "Qualification"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    subject_id = models.CharField(
        max_length=64, blank=True, help_text="What expires, for kinds with several per member (the qualification id)"
    )
    expires_on = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "member", "subject_id", "expires_on"],
                name="expiry_warning_once",
                violation_error_message="This expiry has been warned about already.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.member_id} expiring {self.expires_on}"


class AuditEvent(models.Model):
    """Security-relevant happenings outside the custody ledger: logins, failures, refusals, personal-data exports.

    Written by core.audit; append-only: database triggers refuse UPDATE and DELETE (core.audit_triggers), and the
    admin shows it read-only.
    """

    class Kind(models.TextChoices):
        LOGIN = "login", "Logged in"
        LOGOUT = "logout", "Logged out"
        LOGIN_FAILED = "login_failed", "Login failed"
        REFUSED = "refused", "Authorization refused"
        EXPORT = "export", "Personal data exported"
        OTP_ENROLLED = "otp_enrolled", "Two-factor set up"
        OTP_VERIFIED = "otp_verified", "Two-factor code accepted"
        OTP_FAILED = "otp_failed", "Two-factor code refused"
        OTP_RESET = "otp_reset", "Two-factor reset"
        POLICY_CHANGED = "policy_changed", "Custody policy changed"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        SESSIONS_ENDED = "sessions_ended", "Sessions ended"
        TOKEN_ISSUED = "token_issued", "API token handed out"
        COUNTERSIGNED = "countersigned", "Countersign password accepted"
        RULE_REFUSED = "rule_refused", "Refused by a rule"
        THROTTLED = "throttled", "Over the request rate"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # PROTECT, not SET_NULL: nulling the column would be an UPDATE, which the triggers refuse. An account with audit
    # events is disabled, never deleted.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["kind", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.username}"


class AccountSession(models.Model):
    """One signed-in session of an account: when it started and was last seen, from where, with what browser.

    Written at login (core.sessions.started) and kept in step with the session's key and last request by
    core.middleware.SessionRecordMiddleware; the account lists and ends its own at /account/sessions/. The session
    itself stays Django's (django_session): ending one deletes both.
    """

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        indexes = [models.Index(fields=["account", "last_seen_at"], name="account_session_seen")]

    def __str__(self) -> str:
        return f"{self.account} since {self.started_at:%Y-%m-%d %H:%M}"


class Webhook(models.Model):
    """An outgoing webhook: Muster POSTs JSON events to `url`, signed with HMAC-SHA256 over the body."""

    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, help_text="Shared secret for the X-Muster-Signature header")
    events = models.JSONField(
        default=list, blank=True, help_text='Event kinds to send, e.g. ["custody.issue"]; empty means all'
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events or kind.split(".")[0] in self.events


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} → {self.webhook} ({self.status})"


class ChangeRecord(models.Model):
    """One create, update or delete of a non-custody record (roster, vetting, discipline, training, configuration):
    who, when, which object, and the fields that changed as {field: [before, after]}.

    Written by core.changelog from inside the service that makes the change, in its transaction; append-only, with
    database triggers refusing UPDATE and DELETE (core.changelog_triggers). Custody has its own ledger.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT, not SET_NULL: nulling the column would be an UPDATE, which the triggers refuse.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="The actor's username when the change was made")
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.CharField(max_length=64, help_text='app_label.model, e.g. "members.member"')
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    related_type = models.CharField(max_length=64, blank=True, help_text="The record this one belongs to (a member)")
    related_id = models.CharField(max_length=64, blank=True)
    unit = models.ForeignKey(
        "members.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The unit the change concerns; empty for site-wide records (courses, item types)",
    )
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="change_object"),
            models.Index(fields=["related_type", "related_id"], name="change_related"),
            models.Index(fields=["unit", "at"], name="change_unit_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_type} {self.object_repr}"
