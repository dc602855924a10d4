"""Each account's signed-in sessions (core.AccountSession): recorded at login, kept in step with the session's key
and last request, listed on /account/sessions/, and ended there, by `muster user logout` or from the admin.

A session's key changes at login, at the second factor and when the password is changed (Django's cycle_key); the
session keeps the id of its record, and SessionRecordMiddleware writes the new key after the request that changed
it. `last_seen_at` is written at most once a minute (SEEN_EVERY), so an ordinary request writes nothing here.

Ending a session deletes Django's session row (the next request of that browser is signed out) and the record.
"""

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from muster.core.models import AccountSession

RECORD_KEY = "muster_session_record"  # the record's id, in the session's data
SEEN_KEY = "muster_session_seen"  # when last_seen_at was last written (a timestamp), in the session's data
KEY_KEY = "muster_session_key"  # the session key the record holds, in the session's data
SEEN_EVERY = timedelta(minutes=1)
USER_AGENT_LENGTH = AccountSession._meta.get_field("user_agent").max_length


def started(request, account) -> AccountSession | None:
    """Record the session a login has just opened (after Django gave it a new key). Sessions of the account that
    have ended since (expired, logged out elsewhere) are dropped from the list at the same time."""
    from muster.core.audit import client_ip

    session = request.session
    if session.session_key is None:
        session.save()
    now = timezone.now()
    prune(account)
    record, _ = AccountSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "account": account,
            "started_at": now,
            "last_seen_at": now,
            "ip": client_ip(request),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH],
        },
    )
    session[RECORD_KEY] = record.pk
    session[KEY_KEY] = session.session_key
    session[SEEN_KEY] = now.timestamp()
    return record


def forget(request) -> None:
    """The session is ending by logout: its record goes too."""
    record_id = request.session.get(RECORD_KEY)
    if record_id is not None:
        AccountSession.objects.filter(pk=record_id).delete()


def keep_in_step(request) -> None:
    """After a request: write the session's new key if it changed, and the time it was last seen (once a minute)."""
    session = getattr(request, "session", None)
    if session is None or RECORD_KEY not in session:
        return
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    changes = {}
    key = session.session_key
    if key and session.get(KEY_KEY) != key:
        changes["session_key"] = key
        session[KEY_KEY] = key
    now = timezone.now()
    if now.timestamp() - session.get(SEEN_KEY, 0) >= SEEN_EVERY.total_seconds():
        changes["last_seen_at"] = now
        session[SEEN_KEY] = now.timestamp()
    if changes:
        AccountSession.objects.filter(pk=session[RECORD_KEY], account=user).update(**changes)


def prune(account) -> int:
    """Drop the records of the account's sessions that no longer exist (expired or deleted)."""
    records = AccountSession.objects.filter(account=account)
    alive = Session.objects.filter(
        session_key__in=records.values("session_key"), expire_date__gt=timezone.now()
    ).values("session_key")
    removed, _ = records.exclude(session_key__in=alive).delete()
    return removed


def active(account) -> QuerySet[AccountSession]:
    """The account's sessions that are still open, the most recently seen first."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return AccountSession.objects.filter(account=account, session_key__in=live)


@transaction.atomic
def end(records: QuerySet[AccountSession]) -> int:
    """End these sessions: their browsers are signed out at their next request. Returns how many were open."""
    keys = list(records.values_list("session_key", flat=True))
    ended, _ = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).delete()
    Session.objects.filter(session_key__in=keys).delete()
    AccountSession.objects.filter(session_key__in=keys).delete()
    return ended


def end_for(account, *, keep: str | None = None) -> int:
    """End every session of the account (but `keep`, a session key). Sessions opened before sessions were recorded
    are not listed; they end at their next request whenever the account's password changes (Django checks the
    password's hash on every request)."""
    records = AccountSession.objects.filter(account=account)
    if keep:
        records = records.exclude(session_key=keep)
    return end(records)
