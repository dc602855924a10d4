"""Password rules specific to Muster (AUTH_PASSWORD_VALIDATORS in settings.py; docs/security.md, *Passwords*).

`ContextWordsValidator` refuses a password built around a word anyone would guess for this site: "muster", the role
names, the codes and names of the units in the database, the site's host names and MUSTER_PASSWORD_WORDS. The words
are taken out of the password (in any letter case, with look-alike characters such as 0 for o or @ for a read as
letters); a password is refused when fewer than MIN_REST letters and digits are left, or when what is left is
itself a common password. A password that merely contains such a word among others ("remember the alamo, 1836"
holds "member") passes.
"""

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
