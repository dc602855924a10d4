"""Roster state changes: units, members, accounts and their roles. Nothing else creates these.

Each function: keyword-only arguments, an acting account, one transaction (nestable, so a bulk import can run many
of them inside its own all-or-nothing transaction). Refusals raise `muster.core.errors` exceptions with stable
codes before anything is written. Every row written is logged in the change log (core.changelog), in the same
transaction.
"""

from datetime import date

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from muster.core import audit, authentication, changelog
from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.models import AuditEvent
from muster.members import hooks, scope
from muster.members.models import Account, DisciplinaryEntry, Member, Role, RoleAssignment, StatusChange, Unit, Vetting


def _require_active(actor: Account) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")


def _require_commander(actor: Account, unit: Unit, action: str) -> None:
    _require_active(actor)
    if not scope.has_role(actor, unit, {Role.COMMANDER}):
        raise NotPermitted(
            f"{actor.username} is not a commander of {unit.code}; cannot {action}.", code="not_commander"
        )


def _validated(instance: models.Model, *, exclude: list[str] | None = None) -> None:
    """Run the model's field validation; uniqueness is checked by the callers, with their own codes."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        messages = [f"{field}: {message}" for field, errors in exc.message_dict.items() for message in errors]
        raise Invalid("; ".join(messages), code=f"invalid_{instance._meta.model_name}") from None


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="unknown_role")


@retry_transient
@transaction.atomic
def create_unit(*, code: str, name: str, parent: Unit | None, actor: Account, kind: str = Unit.Kind.OTHER) -> Unit:
    """A new unit under `parent` (a commander of the parent may do this), or a top-level one (superusers only)."""
    _require_active(actor)
    if parent is None:
        if not scope.is_global(actor):
            raise NotPermitted("Only a superuser may create a top-level unit.", code="superuser_required")
    else:
        _require_commander(actor, parent, "create units under it")
    code = code.strip()
    if Unit.objects.filter(code=code).exists():
        raise Refused(f"A unit with code {code!r} already exists.", code="unit_code_taken")
    unit = Unit(code=code, name=name.strip(), kind=kind, parent=parent)
    _validated(unit, exclude=["path"])
    unit.save()
    changelog.record(actor=actor, obj=unit, action=changelog.CREATE)
    return unit


def _new_member(
    *,
    member_no: str,
    first_name: str,
    last_name: str,
    unit: Unit,
    phone: str = "",
    email: str = "",
    status: str = Member.Status.APPLICANT,
    is_veteran: bool = False,
    vetting_valid_until: date | None = None,
    joined_on: date | None = None,
) -> Member:
    member = Member(
        member_no=member_no.strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        unit=unit,
        phone=phone.strip(),
        email=email.strip(),
        status=status,
        is_veteran=is_veteran,
        vetting_valid_until=vetting_valid_until,
        joined_on=joined_on or timezone.localdate(),
    )
    _validated(member, exclude=["unit"])  # the caller looked the unit up; skip a query per member
    return member


@retry_transient
@transaction.atomic
def create_member(*, actor: Account, reason: str = "added to the roll", **fields) -> Member:
    """Put a person on the roll of `unit`. Needs commander role on that unit. The first status is recorded as a
    StatusChange (from nothing), like every later one. Fields: those of `_new_member`."""
    return create_members(members=[fields], actor=actor, reason=reason)[0]


@retry_transient
@transaction.atomic
def create_members(*, members: list[dict], actor: Account, reason: str = "added to the roll") -> list[Member]:
    """Put many people on the roll at once (imports): the same rules as `create_member`, checked for every one
    before any is written, with a constant number of queries."""
    new = [_new_member(**fields) for fields in members]
    for unit in {member.unit.pk: member.unit for member in new}.values():
        _require_commander(actor, unit, "add members to it")
    numbers = [member.member_no for member in new]
    repeated = (
        sorted({number for number in numbers if numbers.count(number) > 1}) if len(set(numbers)) < len(numbers) else []
    )
    if repeated:
        raise Refused(f"Member number {repeated[0]!r} appears more than once.", code="member_no_taken")
    taken = list(Member.objects.filter(member_no__in=numbers).values_list("member_no", flat=True)[:1])
    if taken:
        raise Refused(f"Member number {taken[0]!r} is already taken.", code="member_no_taken")
    created = Member.objects.bulk_create(new)
    status_changes = StatusChange.objects.bulk_create(
        [
            StatusChange(member=member, from_status="", to_status=member.status, reason=reason, changed_by=actor)
            for member in created
        ]
    )
    changelog.record_many(
        changelog.entry(actor=actor, obj=row, action=changelog.CREATE) for row in [*created, *status_changes]
    )
    return created


@retry_transient
@transaction.atomic
def create_account(
    *,
    username: str,
    role: str,
    unit: Unit,
    actor: Account,
    password: str,
    member: Member | None = None,
    email: str = "",
) -> Account:
    """A login holding `role` on `unit`, optionally linked to its member. Needs commander role on the unit (and on
    the member's unit). The password must pass the site's password validators."""
    _check_role(role)
    _require_commander(actor, unit, "create accounts for it")
    if member is not None:
        _require_commander(actor, member.unit, "give its members accounts")
        if Account.objects.filter(member=member).exists():
            raise Refused(f"{member} already has an account.", code="member_has_account")
    username = username.strip()
    if Account.objects.filter(username__iexact=username).exists():
        raise Refused(f"An account named {username!r} already exists.", code="username_taken")
    account = Account(username=username, email=email.strip(), member=member)
    try:
        password_validation.validate_password(password, user=account)
    except ValidationError as exc:
        raise Invalid("The password was refused: " + " ".join(exc.messages), code="password_rejected") from None
    account.set_password(password)
    _validated(account)
    account.save()
    assignment = RoleAssignment.objects.create(account=account, unit=unit, role=role)
    changelog.record(actor=actor, obj=account, action=changelog.CREATE, unit=unit)
    changelog.record(actor=actor, obj=assignment, action=changelog.CREATE, related=member)
    return account


@retry_transient
@transaction.atomic
def grant_role(*, account: Account, role: str, unit: Unit, actor: Account) -> RoleAssignment:
    """Give an existing account a role on a unit. Needs commander role on the unit."""
    _check_role(role)
    _require_commander(actor, unit, "grant roles on it")
    if RoleAssignment.objects.filter(account=account, unit=unit, role=role).exists():
        raise Refused(f"{account.username} is already {Role(role).label.lower()} of {unit.code}.", code="role_held")
    assignment = RoleAssignment.objects.create(account=account, unit=unit, role=role)
    changelog.record(actor=actor, obj=assignment, action=changelog.CREATE, related=account.member)
    scope.forget(account)
    return assignment


@retry_transient
@transaction.atomic
def issue_token(*, account: Account, actor: Account, rotate: bool = False) -> Token:
    """The account's API token, created if it has none, or has expired (core.authentication: it lasts
    MUSTER_API_TOKEN_DAYS), or is replaced with `rotate`. Only the account itself or a superuser may see it."""
    _require_active(actor)
    if actor.pk != account.pk and not scope.is_global(actor):
        raise NotPermitted(f"Only {account.username} or a superuser may see that token.", code="not_token_owner")
    if not account.is_active:
        raise Refused(f"Account {account.username} is disabled.", code="account_disabled")
    current = Token.objects.filter(user=account).first()
    expired = not rotate and current is not None and authentication.is_expired(current)
    replaced = (rotate or expired) and Token.objects.filter(user=account).delete()[0] > 0
    token, created = Token.objects.get_or_create(user=account)
    if created:  # logged on the account: a token's primary key is the secret itself
        new = changelog.SECRET_CHANGED if replaced else changelog.SECRET_SET
        changelog.record(
            actor=actor,
            obj=account,
            action=changelog.UPDATE,
            before={},
            unit=_home_unit(account),
            extra={"api_token": [changelog.SECRET_SET if replaced else None, new]},
        )
    # Handing out a credential is an authentication event (the token endpoint's success, or `muster user token`): in
    # a request, the audit record names its address (core.audit keeps the request).
    if replaced:
        state = "renewed, the old one had expired" if expired else "replaced"
    else:
        state = "new" if created else "existing"
    whose = "own" if actor.pk == account.pk else f"{account.username}'s"
    audit.record(AuditEvent.Kind.TOKEN_ISSUED, account=actor, detail=f"{whose} API token handed out ({state})")
    return token


def _home_unit(account: Account) -> Unit | None:
    """The unit an account's changes are logged under: its member's, else that of its first role."""
    if account.member_id:
        return account.member.unit
    first = RoleAssignment.objects.filter(account=account).select_related("unit").order_by("pk").first()
    return first.unit if first else None


# --- member lifecycle ------------------------------------------------------------------------------------------

# Allowed moves; anything else is refused with `status_change_refused`.
TRANSITIONS = {
    Member.Status.APPLICANT: {Member.Status.ACTIVE, Member.Status.DEPARTED},
    Member.Status.ACTIVE: {Member.Status.SUSPENDED, Member.Status.DEPARTED},
    Member.Status.SUSPENDED: {Member.Status.ACTIVE, Member.Status.DEPARTED},
    Member.Status.DEPARTED: {Member.Status.APPLICANT},
}


@retry_transient
@transaction.atomic
def change_status(*, member: Member, to_status: str, reason: str, actor: Account) -> StatusChange:
    """Move a member through applicant → active ⇄ suspended → departed, recording who, when and why.

    Activation needs a passed, unexpired vetting; departure is refused while the member holds anything (custody
    registers that check); suspension and departure recall whatever the member holds.
    """
    member = Member.objects.select_for_update().select_related("unit").get(pk=member.pk)
    _require_commander(actor, member.unit, "change its members' status")
    if to_status not in Member.Status.values:
        raise Invalid(f"Unknown status {to_status!r}.", code="unknown_status")
    if not reason.strip():
        raise Invalid("Say why the status changes.", code="reason_missing")
    if to_status not in TRANSITIONS[member.status]:
        now, wanted = member.get_status_display().lower(), Member.Status(to_status).label.lower()
        raise Refused(f"{member} is {now}; cannot become {wanted}.", code="status_change_refused")
    if to_status == Member.Status.ACTIVE and not member.vetting_is_valid():
        raise Refused(f"{member} needs a passed, unexpired vetting to become active.", code="vetting_required")
    if to_status == Member.Status.DEPARTED:
        for check in hooks.departure_checks:
            check(member)
    change = StatusChange.objects.create(
        member=member, from_status=member.status, to_status=to_status, reason=reason.strip(), changed_by=actor
    )
    before = changelog.snapshot(member, ["status"])
    member.status = to_status
    member.save(update_fields=["status"])
    changelog.record(actor=actor, obj=change, action=changelog.CREATE)
    changelog.record(actor=actor, obj=member, action=changelog.UPDATE, before=before)
    if to_status in (Member.Status.SUSPENDED, Member.Status.DEPARTED):
        hooks.member_lapsed.send(
            Member, member=member, reason_code=f"member_{to_status}", detail=f"{member} {to_status}: {reason.strip()}"
        )
    return change


@retry_transient
@transaction.atomic
def record_vetting(
    *,
    member: Member,
    vetted_on: date,
    outcome: str,
    actor: Account,
    valid_until: date | None = None,
    notes: str = "",
) -> Vetting:
    """Record a vetting. A pass sets how long the member stays vetted; a failure ends it at once (and recalls)."""
    member = Member.objects.select_for_update().select_related("unit").get(pk=member.pk)
    _require_commander(actor, member.unit, "vet its members")
    if outcome not in Vetting.Outcome.values:
        raise Invalid(f"Unknown vetting outcome {outcome!r}; use passed or failed.", code="unknown_outcome")
    if vetted_on > timezone.localdate():
        raise Invalid("A vetting cannot be dated in the future.", code="vetted_in_future")
    if outcome == Vetting.Outcome.PASSED and (valid_until is None or valid_until <= vetted_on):
        raise Invalid("A passed vetting needs a valid-until date after the vetting date.", code="validity_missing")
    if outcome == Vetting.Outcome.FAILED:
        valid_until = None
    vetting = Vetting.objects.create(
        member=member, vetted_on=vetted_on, outcome=outcome, valid_until=valid_until, vetted_by=actor, notes=notes
    )
    before = changelog.snapshot(member, ["vetting_valid_until"])
    member.vetting_valid_until = valid_until
    member.save(update_fields=["vetting_valid_until"])
    changelog.record(actor=actor, obj=vetting, action=changelog.CREATE)
    changelog.record(actor=actor, obj=member, action=changelog.UPDATE, before=before)
    if not member.vetting_is_valid():
        hooks.member_lapsed.send(
            Member, member=member, reason_code="vetting_expired", detail=f"{member}'s vetting {outcome} on {vetted_on}"
        )
    return vetting


@retry_transient
@transaction.atomic
def add_disciplinary_entry(
    *, member: Member, occurred_on: date, kind: str, note: str, actor: Account
) -> DisciplinaryEntry:
    _require_commander(actor, member.unit, "keep its disciplinary record")
    if kind not in DisciplinaryEntry.Kind.values:
        raise Invalid(f"Unknown kind {kind!r}.", code="unknown_kind")
    if not note.strip():
        raise Invalid("Describe what happened.", code="note_missing")
    if occurred_on > timezone.localdate():
        raise Invalid("The date cannot be in the future.", code="date_in_future")
    entry = DisciplinaryEntry.objects.create(
        member=member, occurred_on=occurred_on, kind=kind, note=note.strip(), recorded_by=actor
    )
    changelog.record(actor=actor, obj=entry, action=changelog.CREATE)
    return entry
