"""Strict parsing of settings from the environment.

A typo in a deployment's environment must stop the process at start-up with a message naming the variable,
never fall back silently to a default.
"""

import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum {maximum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return list(default)
    items = [part.strip() for part in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty entry; separate values with single commas")
    return items


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {sorted(choices)}")
    return value


_PERIODS = {"s": "second", "sec": "second", "second": "second", "m": "minute", "min": "minute", "minute": "minute",
            "h": "hour", "hour": "hour", "d": "day", "day": "day"}  # fmt: skip


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF's throttles read it: a whole number of requests per second, minute, hour or day
    ("120/minute", "10/m"); returned as NUMBER/PERIOD with the period spelt out."""
    value = env_str(name, default)
    number, _, period = value.strip().partition("/")
    unit = _PERIODS.get(period.strip().lower())
    if not re.fullmatch(r"[0-9]+", number.strip()) or int(number) < 1 or unit is None:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate; give requests per period, e.g. 120/minute (second, minute, hour or day)"
        )
    return f"{int(number)}/{unit}"


def env_syslog(name: str) -> str | None:
    """Where to send log lines by syslog, besides stderr: "udp://HOST:PORT", "tcp://HOST:PORT" or the path of a
    local syslog socket ("/dev/log"); None when unset. Returned as given, once it parses (core.logformat reads it)."""
    value = env_str(name)
    if value is None:
        return None
    if value.startswith("/"):
        return value
    match = re.fullmatch(r"(udp|tcp)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})", value.strip())
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a syslog address; give udp://HOST:PORT, tcp://HOST:PORT or a socket path "
            "such as /dev/log"
        )
    return value.strip()
