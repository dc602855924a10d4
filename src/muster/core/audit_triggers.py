"""Database triggers that keep the audit trail (core.AuditEvent) append-only, as core.changelog_triggers does for
the change log: UPDATE and DELETE are refused on SQLite and PostgreSQL, and TRUNCATE on PostgreSQL unless the table
is already empty (so a test database can still be flushed after `purge`).

Installed by migration core/0009_audit_append_only; `uninstall` and `purge` exist only for the test suite.
"""

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "core_auditevent"

_SQLITE = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_refuse_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_refuse_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE refused'); END""",
]

_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_refuse_update",
    "DROP TRIGGER IF EXISTS audit_refuse_delete",
]

_POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION muster_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' AND NOT EXISTS (SELECT 1 FROM {TABLE}) THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit trail is append-only: % refused', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END $$""",  # noqa: S608 (a fixed table name, no input)
    f"""CREATE OR REPLACE TRIGGER audit_refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION muster_audit_refuse_change()""",
    f"""CREATE OR REPLACE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION muster_audit_refuse_change()""",
]

_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS audit_refuse_update_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE}",
]


def _statements(connection: BaseDatabaseWrapper, *, drop: bool) -> list[str]:
    if connection.vendor == "sqlite":
        return _SQLITE_DROP if drop else _SQLITE
    if connection.vendor == "postgresql":
        return _POSTGRES_DROP if drop else _POSTGRES
    raise NotImplementedError(f"no audit-trail triggers for {connection.vendor}")


def install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, drop=False):
            cursor.execute(statement)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, drop=True):
            cursor.execute(statement)


def purge(connection: BaseDatabaseWrapper | None = None) -> None:
    """Empty the audit trail around its triggers. Tests with real transactions only (before the database flush)."""
    from django.db import connection as default_connection

    connection = connection or default_connection
    uninstall(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 (a constant)
    finally:
        install(connection)


def install_from_migration(apps, schema_editor) -> None:
    install(schema_editor.connection)


def uninstall_from_migration(apps, schema_editor) -> None:
    uninstall(schema_editor.connection)
