"""Database triggers that keep a table append-only, whatever code writes: UPDATE and DELETE are refused on SQLite and
PostgreSQL, and TRUNCATE on PostgreSQL unless the table is already empty (so a test database can still be flushed
after `purge`). core.changelog_triggers and core.audit_triggers are the two tables kept so; the custody ledger has
its own, richer triggers (custody.triggers).

`uninstall` and `purge` exist only for the test suite.
"""

from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True)
class AppendOnlyTable:
    table: str
    prefix: str  # of the trigger and function names: "changelog" → changelog_refuse_update, …
    noun: str  # in the refusal: "change log is append-only: UPDATE refused"

    def _statements(self, connection: BaseDatabaseWrapper, *, drop: bool) -> list[str]:
        table, prefix, function = self.table, self.prefix, f"muster_{self.prefix}_refuse_change"
        if connection.vendor == "sqlite":
            if drop:
                return [f"DROP TRIGGER IF EXISTS {prefix}_refuse_{op}" for op in ("update", "delete")]
            return [
                f"""CREATE TRIGGER IF NOT EXISTS {prefix}_refuse_{op.lower()} BEFORE {op} ON {table}
                BEGIN SELECT RAISE(ABORT, '{self.noun} is append-only: {op} refused'); END"""
                for op in ("UPDATE", "DELETE")
            ]
        if connection.vendor == "postgresql":
            if drop:
                return [
                    f"DROP TRIGGER IF EXISTS {prefix}_refuse_{what} ON {table}"
                    for what in ("update_delete", "truncate")
                ]
            return [
                f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'TRUNCATE' AND NOT EXISTS (SELECT 1 FROM {table}) THEN
                        RETURN NULL;
                    END IF;
                    RAISE EXCEPTION '{self.noun} is append-only: % refused', TG_OP
                        USING ERRCODE = 'integrity_constraint_violation';
                END $$""",  # noqa: S608 (fixed names, no input)
                f"""CREATE OR REPLACE TRIGGER {prefix}_refuse_update_delete BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {function}()""",
                f"""CREATE OR REPLACE TRIGGER {prefix}_refuse_truncate BEFORE TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            ]
        raise NotImplementedError(f"no {self.noun} triggers for {connection.vendor}")

    def install(self, connection: BaseDatabaseWrapper) -> None:
        with connection.cursor() as cursor:
            for statement in self._statements(connection, drop=False):
                cursor.execute(statement)

    def uninstall(self, connection: BaseDatabaseWrapper) -> None:
        with connection.cursor() as cursor:
            for statement in self._statements(connection, drop=True):
                cursor.execute(statement)

    def purge(self, connection: BaseDatabaseWrapper | None = None) -> None:
        """Empty the table around its triggers. Tests with real transactions only (before the database flush)."""
        from django.db import connection as default_connection

        connection = connection or default_connection
        self.uninstall(connection)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {self.table}")  # noqa: S608 (a constant)
        finally:
            self.install(connection)

    def install_from_migration(self, apps, schema_editor) -> None:
        self.install(schema_editor.connection)

    def uninstall_from_migration(self, apps, schema_editor) -> None:
        self.uninstall(schema_editor.connection)
