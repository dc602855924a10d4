"""Breached passwords (docs/security.md, ASVS 6.2.12, gap G5): a local copy of Pwned Passwords (`HASH:COUNT` lines
ordered by hash) searched on disk by `core.passwords.breached_count`; `BreachedPasswordValidator` refuses a password
seen MUSTER_BREACHED_PASSWORDS_MIN_COUNT times or more, and refuses every password when the list cannot be read."""

import hashlib
import itertools
import logging
import random
import tempfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from muster.core import passwords
from muster.core.models import AuditEvent
from muster.core.passwords import BreachedPasswordValidator, breached_count
from muster.core.testing import PASSWORD
from muster.core.tests.test_security_passwords import change, sign_in
from muster.core.tests.test_settings import load_settings, settings_of
from muster.members.models import Account

# Each on its own line of the list: the first, one in the middle, the last (the random lines fill in between).
FIRST, MIDDLE, LAST = "plum-orchard-quartz-91", "Tr0ub4dor&3-xylophone", "winter-lantern-ferry-7"
KNOWN = {FIRST: 3, MIDDLE: 52_000, LAST: 1}
RANDOM_LINES = 3000


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()  # noqa: S324


def write_list(path: Path, entries: dict[str, int], newline: str = "\r\n", *, final_newline: bool = True) -> Path:
    """The list as the downloader writes it: one `HASH:COUNT` line per hash, sorted by hash."""
    text = newline.join(f"{digest}:{count}" for digest, count in sorted(entries.items()))
    path.write_bytes((text + (newline if final_newline and entries else "")).encode("ascii"))
    return path


def random_between(rng: random.Random, low: str, high: str, n: int) -> dict[str, int]:
    """n random hashes strictly between two hashes, with counts."""
    return {f"{rng.randrange(int(low, 16) + 1, int(high, 16)):040X}": rng.randint(1, 10**6) for _ in range(n)}


def built(tmp_path: Path, newline: str) -> tuple[Path, dict[str, int]]:
    """KNOWN's hashes on the first, middle and last lines of a list of RANDOM_LINES more."""
    rng = random.Random(6212)
    first, middle, last = (sha1(password) for password in (FIRST, MIDDLE, LAST))
    half = RANDOM_LINES // 2
    entries = random_between(rng, first, middle, half) | random_between(rng, middle, last, half)
    entries |= {sha1(password): count for password, count in KNOWN.items()}
    return write_list(tmp_path / "pwnedpasswords.txt", entries, newline), entries


@pytest.fixture(params=["\r\n", "\n"], ids=["crlf", "lf"])
def listing(tmp_path, request) -> tuple[Path, dict[str, int]]:
    return built(tmp_path, request.param)


def unlisted(entries: dict[str, int], where) -> str:
    """A password not on the list whose hash satisfies `where(digest)`."""
    return next(
        password
        for password in (f"unlisted-passphrase-{n}" for n in itertools.count())
        if sha1(password) not in entries and where(sha1(password))
    )


def refusal(validator: BreachedPasswordValidator, password: str) -> ValidationError | None:
    try:
        validator.validate(password)
    except ValidationError as exc:
        return exc
    return None


# --- the search ----------------------------------------------------------------------------------------------------


def test_it_refuses_the_passwords_on_the_first_middle_and_last_lines(listing):
    path, _ = listing
    lines = path.read_bytes().splitlines()
    assert lines[0].startswith(sha1(FIRST).encode()) and lines[-1].startswith(sha1(LAST).encode())
    assert lines.index(f"{sha1(MIDDLE)}:{KNOWN[MIDDLE]}".encode()) == len(lines) // 2
    validator = BreachedPasswordValidator(str(path))
    for password, count in KNOWN.items():
        refused = refusal(validator, password)
        assert refused is not None and refused.code == "password_breached", password
        assert refused.params == {"count": count}


def test_it_accepts_a_password_between_two_lines_before_the_first_and_after_the_last(listing):
    path, entries = listing
    first, last = sha1(FIRST), sha1(LAST)
    validator = BreachedPasswordValidator(str(path))
    between = unlisted(entries, lambda digest: first < digest < last)
    before = unlisted(entries, lambda digest: digest < first)
    after = unlisted(entries, lambda digest: digest > last)
    for password in (between, before, after, PASSWORD):
        assert refusal(validator, password) is None, password


@pytest.mark.parametrize("scan_bytes", [1, 100, passwords.SCAN_BYTES])
def test_every_line_is_found_with_its_count_and_no_hash_between_lines(listing, scan_bytes):
    """Every line, at every depth of the search (a scan window of 1 byte makes it bisect to the single line)."""
    path, entries = listing
    ordered = sorted(entries)
    for digest in ordered:
        assert breached_count(str(path), digest, scan_bytes=scan_bytes) == entries[digest]
    for lower, upper in itertools.pairwise(["0" * 40, *ordered, "F" * 40]):
        gap = f"{int(lower, 16) + 1:040X}"
        if gap not in (lower, upper) and gap not in entries:
            assert breached_count(str(path), gap, scan_bytes=scan_bytes) == 0
    assert breached_count(str(path), "0" * 40, scan_bytes=scan_bytes) == 0
    assert breached_count(str(path), "F" * 40, scan_bytes=scan_bytes) == 0


@pytest.mark.parametrize("final_newline", [True, False])
def test_a_list_of_one_or_two_lines_with_or_without_a_final_line_break(tmp_path, final_newline):
    one = write_list(tmp_path / "one.txt", {sha1(FIRST): 7}, "\r\n", final_newline=final_newline)
    assert breached_count(str(one), sha1(FIRST), scan_bytes=1) == 7
    assert breached_count(str(one), sha1(LAST), scan_bytes=1) == 0
    two = write_list(tmp_path / "two.txt", {sha1(FIRST): 7, sha1(LAST): 9}, "\n", final_newline=final_newline)
    for scan_bytes in (1, 4096):
        assert breached_count(str(two), sha1(FIRST), scan_bytes=scan_bytes) == 7
        assert breached_count(str(two), sha1(LAST), scan_bytes=scan_bytes) == 9
        assert breached_count(str(two), sha1(MIDDLE), scan_bytes=scan_bytes) == 0


def test_an_empty_list_holds_nothing(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert breached_count(str(empty), sha1(FIRST)) == 0


def test_a_lookup_reads_a_few_blocks_whatever_the_size(tmp_path, monkeypatch):
    rng = random.Random(17)
    entries = random_between(rng, "0" * 40, "F" * 40, 100_000)
    path = write_list(tmp_path / "big.txt", entries)
    seeks, reads = [], []

    class Counted:
        def __init__(self, real):
            self.real = real

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.real.close()

        def seek(self, offset):
            seeks.append(offset)
            return self.real.seek(offset)

        def readline(self, limit=-1):
            line = self.real.readline(limit)
            reads.append(len(line))
            return line

        def __getattr__(self, name):
            return getattr(self.real, name)

    monkeypatch.setattr(passwords, "open", lambda *args: Counted(open(*args)), raising=False)  # noqa: SIM115
    size = path.stat().st_size
    for digest in [*rng.sample(sorted(entries), 20), "0" * 40, "F" * 40]:
        seeks.clear()
        reads.clear()
        assert breached_count(str(path), digest) == entries.get(digest, 0)
        assert len(seeks) <= (size // passwords.SCAN_BYTES).bit_length() + 2
        assert sum(reads) <= 2 * 56 * len(seeks) + passwords.SCAN_BYTES + 56


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    members=st.dictionaries(st.binary(min_size=20, max_size=20), st.integers(0, 10**8), max_size=200),
    others=st.lists(st.binary(min_size=20, max_size=20), max_size=20),
    newline=st.sampled_from(["\r\n", "\n"]),
    final_newline=st.booleans(),
    scan_bytes=st.sampled_from([1, 2, 50, 4096]),
)
def test_every_member_is_found_and_no_other_hash(members, others, newline, final_newline, scan_bytes):
    entries = {digest.hex().upper(): count for digest, count in members.items()}
    with tempfile.TemporaryDirectory() as directory:
        path = str(write_list(Path(directory) / "list.txt", entries, newline, final_newline=final_newline))
        for digest, count in entries.items():
            assert breached_count(path, digest, scan_bytes=scan_bytes) == count
        for digest in (other.hex().upper() for other in others):
            if digest not in entries:
                assert breached_count(path, digest, scan_bytes=scan_bytes) == 0


# --- the validator -------------------------------------------------------------------------------------------------


def test_min_count_sets_how_often_a_password_must_have_been_seen(listing):
    path, _ = listing
    assert [refusal(BreachedPasswordValidator(str(path), min_count=3), password) is not None for password in KNOWN] == [
        True,  # FIRST: seen 3 times
        True,  # MIDDLE: 52,000
        False,  # LAST: once
    ]
    assert refusal(BreachedPasswordValidator(str(path), min_count=52_001), MIDDLE) is None
    assert refusal(BreachedPasswordValidator(str(path)), LAST) is not None  # the default: once is enough


def test_the_refusal_says_what_happened_and_nothing_more(listing):
    path, _ = listing
    validator = BreachedPasswordValidator(str(path))
    assert refusal(validator, MIDDLE).messages == [
        "This password appears in a list of passwords exposed in data breaches (seen 52,000 times); choose another."
    ]
    assert "(seen once)" in refusal(validator, LAST).messages[0]
    assert "can’t be one exposed in a data breach" in validator.get_help_text()


@pytest.mark.parametrize("damage", ["removed", "a directory", "a bad line"])
def test_a_list_that_cannot_be_read_refuses_every_password_and_logs_an_error(tmp_path, caplog, damage):
    path, _ = built(tmp_path, "\n")
    validator = BreachedPasswordValidator(str(path))
    if damage == "removed":
        path.unlink()
    elif damage == "a directory":
        path.unlink()
        path.mkdir()
    else:
        lines = path.read_bytes().splitlines(keepends=True)
        lines[len(lines) // 2] = b"this is not a hash line\n"
        path.write_bytes(b"".join(lines))
    with caplog.at_level(logging.ERROR, logger="muster.security"):
        refused = refusal(validator, MIDDLE if damage == "a bad line" else PASSWORD)
    assert refused is not None and refused.code == "password_breached_list_unavailable"
    assert refused.messages == [
        "This password could not be checked against the list of breached passwords; contact the administrator."
    ]
    [record] = [record for record in caplog.records if record.name == "muster.security"]
    assert record.levelno == logging.ERROR and str(path) in record.getMessage()
    assert "every new password is refused" in record.getMessage()
    assert PASSWORD not in record.getMessage() and sha1(PASSWORD) not in record.getMessage()


# --- the password page ---------------------------------------------------------------------------------------------


def with_the_list(settings, path: Path, min_count: int = 1) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [
        *settings.AUTH_PASSWORD_VALIDATORS,
        {
            "NAME": "muster.core.passwords.BreachedPasswordValidator",
            "OPTIONS": {"path": str(path), "min_count": min_count},
        },
    ]


@pytest.mark.django_db
def test_the_password_page_refuses_a_breached_password_and_changes_nothing(world, settings, tmp_path):
    path, _ = built(tmp_path, "\r\n")
    with_the_list(settings, path)
    laptop = sign_in("bob", ip="10.70.1.1")
    stored = Account.objects.get(pk=world.bob.pk).password
    response = change(laptop, new=MIDDLE)
    assert response.status_code == 400
    errors = response.context["form"].errors["__all__"]
    assert any("exposed in data breaches (seen 52,000 times)" in error for error in errors), errors
    assert MIDDLE not in response.content.decode() and sha1(MIDDLE) not in response.content.decode()
    assert Account.objects.get(pk=world.bob.pk).password == stored
    assert not AuditEvent.objects.filter(kind="password_changed").exists()

    accepted = unlisted({}, lambda digest: sha1(FIRST) < digest < sha1(LAST))
    assert change(laptop, new=accepted).status_code == 302  # a password not on the list goes through
    assert Account.objects.get(pk=world.bob.pk).check_password(accepted)


@pytest.mark.django_db
def test_the_password_page_refuses_while_the_list_is_missing(world, settings, tmp_path, caplog):
    path, _ = built(tmp_path, "\n")
    with_the_list(settings, path)
    path.unlink()
    laptop = sign_in("bob", ip="10.70.1.2")
    stored = Account.objects.get(pk=world.bob.pk).password
    with caplog.at_level(logging.ERROR, logger="muster.security"):
        response = change(laptop)
    assert response.status_code == 400
    assert any("contact the administrator" in error for error in response.context["form"].errors["__all__"])
    assert Account.objects.get(pk=world.bob.pk).password == stored
    assert any(record.name == "muster.security" for record in caplog.records)


# --- start-up ------------------------------------------------------------------------------------------------------


def test_a_list_named_in_the_environment_adds_the_validator_with_its_minimum(tmp_path):
    path, _ = built(tmp_path, "\r\n")
    [validators] = settings_of(
        "AUTH_PASSWORD_VALIDATORS",
        MUSTER_BREACHED_PASSWORDS_FILE=str(path),
        MUSTER_BREACHED_PASSWORDS_MIN_COUNT="10",
    )
    assert validators[-1] == {
        "NAME": "muster.core.passwords.BreachedPasswordValidator",
        "OPTIONS": {"path": str(path), "min_count": 10},
    }
    [unset] = settings_of("AUTH_PASSWORD_VALIDATORS")
    assert not any(validator["NAME"].endswith("BreachedPasswordValidator") for validator in unset)


def test_start_up_stops_on_a_missing_list(tmp_path):
    result = load_settings(MUSTER_BREACHED_PASSWORDS_FILE=str(tmp_path / "nowhere.txt"))
    assert result.returncode != 0
    assert "MUSTER_BREACHED_PASSWORDS_FILE=" in result.stderr and "cannot be read" in result.stderr


@pytest.mark.parametrize(
    "first_line",
    [
        b"",  # empty
        b"123456\n",  # a plain password list
        b"55ca82cc96088b072bce33719053fcfa1010b432:3\n",  # lower case
        b"8846F7EAEE8FB117AD06BDD830B7586C:10\r\n",  # the NTLM list
        b"55CA82CC96088B072BCE33719053FCFA1010B432\n",  # no count
        b"55CA82CC96088B072BCE33719053FCFA1010B432:3 \n",
    ],
)
def test_start_up_stops_on_a_list_of_the_wrong_format(tmp_path, first_line):
    path = tmp_path / "list.txt"
    path.write_bytes(first_line + (b"E082F42F9B189A08310E610672D5420120DD9855:1\n" if first_line else b""))
    result = load_settings(MUSTER_BREACHED_PASSWORDS_FILE=str(path))
    assert result.returncode != 0
    assert "MUSTER_BREACHED_PASSWORDS_FILE=" in result.stderr and "HASH:COUNT" in result.stderr


def test_start_up_stops_on_a_minimum_below_one(tmp_path):
    path, _ = built(tmp_path, "\n")
    result = load_settings(MUSTER_BREACHED_PASSWORDS_FILE=str(path), MUSTER_BREACHED_PASSWORDS_MIN_COUNT="0")
    assert result.returncode != 0
    assert "MUSTER_BREACHED_PASSWORDS_MIN_COUNT=0 is below the minimum 1" in result.stderr
