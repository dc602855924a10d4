"""Password rules specific to Muster (AUTH_PASSWORD_VALIDATORS in settings.py; docs/security.md, *Passwords*).

`ContextWordsValidator` refuses a password built around a word anyone would guess for this site: "muster", the role
names, the codes and names of the units in the database, the site's host names and MUSTER_PASSWORD_WORDS. The words
are taken out of the password (in any letter case, with look-alike characters such as 0 for o or @ for a read as
letters); a password is refused when fewer than MIN_REST letters and digits are left, or when what is left is
itself a common password. A password that merely contains such a word among others ("remember the alamo, 1836"
holds "member") passes.

`BreachedPasswordValidator` refuses a password whose SHA-1 is in a local copy of Have I Been Pwned's Pwned Passwords
(MUSTER_BREACHED_PASSWORDS_FILE: `HASH:COUNT` lines ordered by hash, as `haveibeenpwned-downloader` writes them,
30+ GB). The file is never loaded: `breached_count` binary-searches it by byte offset, some 25 reads of a few KB.
A list that cannot be read at validation time refuses the password and logs an error (docs/decisions.md).
"""

import hashlib
import logging
import os
import re
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError

# Letters and digits that must be left once the context words are taken out.
MIN_REST = 6
# Words of unit names and host names shorter than this are ignored ("A", "of", "R").
MIN_WORD = 3
# Host name labels that say nothing about the site.
GENERIC_LABELS = frozenset({"www", "com", "org", "net", "mil", "gov", "edu", "int", "local", "localhost", "lan"})

# Look-alike characters read as the letter they stand for; "1" is tried as both i and l.
_LOOKALIKES = [
    str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i"}),
    str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "|": "l"}),
]
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _plain(text: str) -> str:
    """Lower case, letters and digits only: "A-COY" → "acoy"."""
    return _NOT_ALNUM.sub("", text.lower())


def _words_of(text: str) -> set[str]:
    """The text itself without separators, and each of its words of MIN_WORD letters or more."""
    words = {word for word in _NOT_ALNUM.split(text.lower()) if len(word) >= MIN_WORD}
    whole = _plain(text)
    if len(whole) >= MIN_WORD:
        words.add(whole)
    return words


def fixed_words() -> set[str]:
    """The words that do not come from the database: the site's name, the roles, the host names, the setting."""
    from muster.members.models import Role

    words = {"muster"}
    for value, label in Role.choices:
        words |= _words_of(value) | _words_of(label)
    hosts = [host.lstrip(".") for host in settings.ALLOWED_HOSTS if host != "*"]
    hosts.append(urlsplit(settings.MUSTER_BASE_URL).hostname or "")
    for host in hosts:
        if re.fullmatch(r"[\d.:]+", host):  # an IP address is no word
            continue
        words |= {label for label in host.lower().split(".") if len(label) >= MIN_WORD} - GENERIC_LABELS
    for extra in getattr(settings, "MUSTER_PASSWORD_WORDS", []):
        words |= _words_of(extra)
    return words


def unit_words() -> set[str]:
    from muster.members.models import Unit

    words: set[str] = set()
    for code, name in Unit.objects.values_list("code", "name"):
        words |= _words_of(code) | _words_of(name)
    return words


def context_words() -> set[str]:
    """Every word the validator refuses a password to be built around (the documented list, docs/security.md)."""
    return fixed_words() | unit_words()


@lru_cache(maxsize=2)
def _common_passwords(path: str | None) -> frozenset[str]:
    """The same list the CommonPasswordValidator reads: MUSTER_COMMON_PASSWORDS_FILE, or Django's own."""
    return frozenset((CommonPasswordValidator(path) if path else CommonPasswordValidator()).passwords)


def _rest_of_reading(password: str, table: dict, ordered: list[str]) -> str | None:
    """Read the password through `table` (look-alikes as letters), take the context words out of that reading, and
    return what is left of the password as typed (letters and digits), or None if no word was found."""
    pairs = [(typed, read) for typed, read in zip(password, password.translate(table), strict=True) if read.isalnum()]
    kept = list(range(len(pairs)))
    reading = "".join(read for _, read in pairs)
    found = False
    for word in ordered:
        while word in reading:
            start = reading.index(word)
            del kept[start : start + len(word)]
            reading = "".join(pairs[index][1] for index in kept)
            found = True
    return _plain("".join(pairs[index][0] for index in kept)) if found else None


def rest_after_removing(password: str, words: set[str]) -> str | None:
    """What is left of the password (its letters and digits as typed) once every context word is taken out, of the
    readings of look-alike characters the one that leaves least; None when it holds no context word at all."""
    ordered = sorted(words, key=len, reverse=True)  # "companya" before "company"
    lowered = password.lower()
    rests = [_rest_of_reading(lowered, table, ordered) for table in [{}, *_LOOKALIKES]]
    rests = [rest for rest in rests if rest is not None]
    return min(rests, key=len) if rests else None


class ContextWordsValidator:
    """Refuses a password built around a word specific to this Muster site (see the module docstring)."""

    code = "password_context_word"

    def validate(self, password: str, user=None) -> None:
        rest = rest_after_removing(password, context_words())
        if rest is None:
            return  # no context word in it
        if len(rest) < MIN_REST or rest in _common_passwords(settings.MUSTER_COMMON_PASSWORDS_FILE):
            raise ValidationError(self.get_error_message(), code=self.code)

    def get_error_message(self) -> str:
        return (
            "This password is built around a word anyone would guess here (Muster, a unit's code or name, a role, "
            "the site's name)."
        )

    def get_help_text(self) -> str:
        return "Your password can’t be built around Muster, a unit’s code or name, a role or the site’s name."


# --- breached passwords --------------------------------------------------------------------------------------------

security_log = logging.getLogger("muster.security")

# One line of the list: 40 upper-case hex digits of a SHA-1, a colon, how many times it was seen; CRLF or LF (the last
# line may have none). The first line must read so for the server to start (settings.py).
BREACHED_LINE = re.compile(rb"([0-9A-F]{40}):([0-9]+)\r?\n?")
# A line is 42 to ~55 bytes; a "line" longer than this means the file is something else.
_MAX_LINE = 256
# Once the search has narrowed the lines to this many bytes it reads them in order (one block).
SCAN_BYTES = 4096


class BreachedListError(Exception):
    """The breached-password list cannot be read, or a line of it is not HASH:COUNT."""


def _read_line(listing, offset: int) -> bytes:
    line = listing.readline(_MAX_LINE)
    if len(line) == _MAX_LINE and not line.endswith(b"\n"):
        raise BreachedListError(f"no line break within {_MAX_LINE} bytes after byte {offset}")
    return line


def _parse(line: bytes, offset: int) -> tuple[bytes, int]:
    match = BREACHED_LINE.fullmatch(line)
    if match is None:
        raise BreachedListError(f"the line at byte {offset} is not HASH:COUNT")
    return match.group(1), int(match.group(2))


def breached_count(path: str, digest: str, *, scan_bytes: int = SCAN_BYTES) -> int:
    """How many times the SHA-1 `digest` (40 upper-case hex digits) was seen according to the list at `path`; 0 when
    it is not there. Binary search by byte offset: O(log n) seeks, a few KB of memory whatever the file's size.
    Raises BreachedListError (an OSError included) when the file cannot be read or a line read is not HASH:COUNT."""
    target = digest.encode("ascii")
    try:
        with open(path, "rb") as listing:
            # Invariant: the line holding `target`, if any, starts at a byte in [lo, hi); lo is a line's start.
            lo, hi = 0, os.fstat(listing.fileno()).st_size
            while hi - lo > max(scan_bytes, 1):
                mid = (lo + hi) // 2  # lo < mid < hi
                listing.seek(mid - 1)
                _read_line(listing, mid - 1)  # the rest of the line holding byte mid - 1
                start = listing.tell()  # so the first line starting at mid or after
                if start >= hi:
                    hi = mid  # no line starts in [mid, hi)
                    continue
                found, count = _parse(_read_line(listing, start), start)
                if found == target:
                    return count
                if found < target:
                    lo = listing.tell()  # the next line's start (may pass hi: then the target is not there)
                else:
                    hi = mid
            listing.seek(lo)
            while (start := listing.tell()) < hi:
                line = _read_line(listing, start)
                if not line:
                    break
                found, count = _parse(line, start)
                if found >= target:
                    return count if found == target else 0
            return 0
    except OSError as exc:
        raise BreachedListError(f"{type(exc).__name__}: {exc.strerror or exc}") from None


class BreachedPasswordValidator:
    """Refuses a password seen at least `min_count` times in the Pwned Passwords list kept at `path` (see the module
    docstring). Fails closed: when the list cannot be read the password is refused and an error is logged."""

    code = "password_breached"
    unavailable_code = "password_breached_list_unavailable"

    def __init__(self, path: str, min_count: int = 1):
        self.path = path
        self.min_count = min_count

    def validate(self, password: str, user=None) -> None:
        digest = hashlib.sha1(password.encode()).hexdigest().upper()  # noqa: S324 (the list is SHA-1)
        try:
            count = breached_count(self.path, digest)
        except BreachedListError as exc:
            security_log.error(
                "breached-password list %s cannot be read (%s); every new password is refused until it is fixed",
                self.path,
                exc,
            )
            raise ValidationError(
                "This password could not be checked against the list of breached passwords; contact the administrator.",
                code=self.unavailable_code,
            ) from None
        if count >= self.min_count:
            times = "once" if count == 1 else f"{count:,} times"
            raise ValidationError(
                f"This password appears in a list of passwords exposed in data breaches (seen {times}); choose "
                "another.",
                code=self.code,
                params={"count": count},
            )

    def get_help_text(self) -> str:
        return "Your password can’t be one exposed in a data breach."
