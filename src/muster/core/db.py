"""Transactions that survive contention: a service whose transaction PostgreSQL aborts with a serialization failure
(SQLSTATE 40001) or a deadlock (40P01), or that found SQLite's write lock still taken after its busy timeout, runs
again from the start, a few times with a short random pause; when that still fails, the caller gets `Busy` (HTTP
503, CLI exit code 6) instead of a server error.

SQLite's busy handler is not a queue: among many waiting writers one can lose every race until its timeout ends
(the stress run saw 0.2% of operations do so with 16 writer processes on 2 cores). Trying again puts it back in the
race; a transaction takes SQLite's write lock at BEGIN (IMMEDIATE), so one that was refused wrote nothing.

Retrying is safe because the whole transaction rolled back and the service's side effects (notifications,
webhooks) run only on commit. Only the outermost transaction retries: inside someone else's atomic block the
aborted transaction belongs to the caller, so the error goes up to it.

    @retry_transient
    @transaction.atomic(durable=True)
    def issue(*, item, member, actor, ...): ...
"""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from muster.core.errors import DomainError

logger = logging.getLogger("muster.db")

P = ParamSpec("P")
R = TypeVar("R")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
ATTEMPTS = 5
BASE_PAUSE = 0.02  # seconds; doubled on each attempt, with jitter so that the colliding transactions drift apart


class Busy(DomainError):
    """The database stayed too contended to finish the change; nothing was written. Try again."""

    http_status = 503
    exit_code = 6
    default_code = "busy_try_again"


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's, wrapped by Django as __cause__), or None."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if state:
            return state
    return None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and sqlstate(exc) in RETRYABLE_SQLSTATES


def is_sqlite_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def retry_transient(func: Callable[P, R] | None = None, *, attempts: int = ATTEMPTS, using: str = DEFAULT_DB_ALIAS):
    """Run `func` again when its transaction hits a serialization failure or a deadlock (see the module text)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if connections[using].in_atomic_block:  # the caller's transaction: it decides
                return func(*args, **kwargs)
            for attempt in range(1, attempts + 1):
                try:
                    return func(*args, **kwargs)
                except OperationalError as exc:
                    if not (is_retryable(exc) or is_sqlite_busy(exc)):
                        raise
                    if attempt == attempts:
                        logger.warning("%s gave up after %d attempts: %s", func.__qualname__, attempts, exc)
                        raise Busy(
                            "The database was too busy to finish this change; nothing was changed. Try again."
                        ) from exc
                    logger.info("%s: %s on attempt %d, retrying", func.__qualname__, exc, attempt)
                    time.sleep(BASE_PAUSE * 2 ** (attempt - 1) * (0.5 + random.random()))
            raise AssertionError("unreachable")

        return wrapper

    return decorate(func) if func is not None else decorate
