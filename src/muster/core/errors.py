"""Domain errors with stable codes.

Services raise these; each face maps them once: the API in `core.api.exception_handler`, the web views in
`core.views`, the CLI in `core.cli` (exit codes below).
"""

from contextvars import ContextVar


class DomainError(Exception):
    """Base class. `code` is stable and machine-readable; `detail` is for people."""

    http_status = 400
    exit_code = 1
    default_code = "error"
    # True when the service recorded this refusal in the audit trail itself (core.otp's throttled code is an
    # `otp_failed` record): the faces do not record it a second time.
    recorded = False

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code

    def as_dict(self) -> dict:
        return {"code": self.code, "detail": self.detail}


class Invalid(DomainError):
    """The request itself is malformed or names something that does not exist."""

    http_status = 400
    exit_code = 2
    default_code = "invalid"


class Refused(DomainError):
    """The request is well-formed but a custody or roster rule forbids it."""

    http_status = 409
    exit_code = 3
    default_code = "refused"

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail, code=code)
        _shown(self)


class NotPermitted(DomainError):
    """The acting account may not do this here."""

    http_status = 403
    exit_code = 4
    default_code = "not_permitted"

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail, code=code)
        _shown(self)


# The last NotPermitted (403) and the last Refused (409) raised while handling this web request, by HTTP status: a
# page that shows the refusal in its form (and answers 403 or 409) instead of raising it is recorded under its code
# by core.middleware.AuditMiddleware, which starts each request with an empty dict. None outside a web request.
refusals_shown: ContextVar[dict[int, DomainError] | None] = ContextVar("refusals_shown", default=None)


def _shown(refusal: DomainError) -> None:
    shown = refusals_shown.get()
    if shown is not None:
        shown[refusal.http_status] = refusal


class NotFound(DomainError):
    """The object does not exist, or lies outside the acting account's units (we do not say which)."""

    http_status = 404
    exit_code = 5
    default_code = "not_found"
