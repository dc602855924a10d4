import pytest

from muster.core.testing import make_account, make_member, make_unit
from muster.custody.models import Armory
from muster.members.models import Role, Unit


@pytest.fixture
def world(db):
    """Two companies under one region, each with an armory, and the named people of core.testing."""
    from types import SimpleNamespace

    region = make_unit("R", kind=Unit.Kind.REGION, name="Region R")
    unit_a = make_unit("A", parent=region, name="Company A")
    unit_b = make_unit("B", parent=region, name="Company B")
    armory_a = Armory.objects.create(code="ARM-A", name="Arms room A", unit=unit_a)
    armory_b = Armory.objects.create(code="ARM-B", name="Arms room B", unit=unit_b)
    bob_member = make_member(unit_a, first_name="Bob", last_name="Baker")
    bob = make_account("bob", roles=[(Role.MEMBER, unit_a)], member=bob_member)
    return SimpleNamespace(
        region=region,
        unit_a=unit_a,
        unit_b=unit_b,
        armory_a=armory_a,
        armory_b=armory_b,
        alice=make_account("alice", roles=[(Role.ARMORER, unit_a)], member=make_member(unit_a, first_name="Alice")),
        bob=bob,
        bob_member=bob_member,
        carol=make_account("carol", roles=[(Role.ARMORER, unit_b)], member=make_member(unit_b, first_name="Carol")),
        dave=make_account("dave", roles=[(Role.COMMANDER, unit_a)]),
        erin=make_account("erin", roles=[(Role.AUDITOR, unit_a)]),
        frank=make_account("frank", roles=[(Role.DUTY_OFFICER, unit_a)]),
        rita=make_account("rita", roles=[(Role.ARMORER, region)]),
        member_b=make_member(unit_b, first_name="Boris"),
    )


@pytest.fixture
def purged_ledger(transactional_db):
    """For tests with real transactions (threads, processes, a live server). The append-only tables are emptied
    after each of them by pytest_runtest_teardown below; this fixture only asks for the real database."""
    return


def _uses_real_transactions(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    if "transactional_db" in names or "live_server" in names:
        return True
    marker = item.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or marker.kwargs.get("serialized_rollback")))


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL, skip the tests that make a SQLite file of their own (the SQLite run has them)."""
    import os

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    skip = pytest.mark.skip(reason="works in a SQLite file of its own; the SQLite run (python3 run.py test) has it")
    for item in items:
        if item.get_closest_marker("own_sqlite"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Empty the ledger, the change log and the audit trail around their append-only triggers before pytest-django
    flushes the database after a test with real transactions: the flush's DELETE (SQLite) or TRUNCATE (PostgreSQL)
    of a table with rows would be refused. Runs before any fixture's finalizer, so the database is still open."""
    if _uses_real_transactions(item):
        from muster.core.audit_triggers import purge as purge_audit_trail
        from muster.core.changelog_triggers import purge as purge_change_log
        from muster.custody.testing import purge_ledger

        purge_ledger()
        purge_change_log()
        purge_audit_trail()
    return (yield)


@pytest.fixture(autouse=True)
def _handover_pins_optional(settings):
    # Most tests are about other rules; tests of the two-person handover switch this back on.
    settings.MUSTER_REQUIRE_HANDOVER_PIN = False


@pytest.fixture(autouse=True)
def _no_login_throttling(settings):
    # Tests log in a great deal through the test client, which passes no request to authenticate();
    # core/tests/test_auth.py switches throttling on to test it.
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _no_api_throttling(settings):
    # The API's request rates count across tests (the cache outlives a test); core/tests/test_security_throttling.py
    # switches them on to test them.
    settings.MUSTER_API_THROTTLING = False


@pytest.fixture(autouse=True)
def _no_web_throttling(settings):
    # Likewise the web pages' rates; core/tests/test_security_web_throttling.py switches them on.
    settings.MUSTER_WEB_THROTTLING = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2 is deliberately slow; tests create many accounts and do not test the hasher's strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _totp_optional(settings):
    # Tests sign staff in with force_login; core/tests/test_totp.py switches the second factor back on.
    settings.MUSTER_REQUIRE_TOTP = False
