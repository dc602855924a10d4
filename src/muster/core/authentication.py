"""API tokens with a lifetime (docs/security.md *Sessions*, ASVS 7.2.2).

A token (DRF's authtoken, `Authorization: Token <key>`) works for MUSTER_API_TOKEN_DAYS after its creation. Then
every call with it answers 401 {"code": "token_expired"} with `WWW-Authenticate: Token`, and the account gets a
new key from the token endpoint (password, and the TOTP code where one is asked) or `muster user token` on the
server: both replace an expired token instead of handing it out again (members.services.issue_token).
"""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

if TYPE_CHECKING:  # the model is not imported here: DRF reads this class from the settings before the apps are ready
    from rest_framework.authtoken.models import Token

EXPIRED_DETAIL = (
    "This API token has expired. Get a new one from POST /api/v1/auth/token (or `muster user token` on the server)."
)


def lifetime() -> timedelta:
    return timedelta(days=settings.MUSTER_API_TOKEN_DAYS)


def expires_at(token: "Token") -> datetime:
    return token.created + lifetime()


def is_expired(token: "Token", *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= expires_at(token)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication (a disabled account's token is refused as before) that also refuses a token
    older than its lifetime."""

    def authenticate_credentials(self, key):
        account, token = super().authenticate_credentials(key)
        if is_expired(token):
            raise AuthenticationFailed(EXPIRED_DETAIL, code="token_expired")
        return account, token
