"""Database triggers that keep the ledger append-only and custody continuous, whatever code writes, and the armory
tally (custody.tally_models) in step with the items table.

Installed by migration custody/0002; `uninstall` exists only for the test suite's purge (see custody.testing).
"""

import re

from django.db.backends.base.base import BaseDatabaseWrapper

GENESIS = "0" * 64
LEDGER = "custody_ledgerevent"
ITEM = "custody_item"
LOT = "custody_lot"
TALLY = "custody_armorytally"

# The tally's key of an item row (OLD or NEW): its home armory, holder kind, and holding armory or 0 for a member.
_ADD_SQLITE = f"""INSERT INTO {TALLY} (home_armory_id, holder_kind, holder_armory_id, items)
        VALUES (NEW.home_armory_id, NEW.holder_kind, COALESCE(NEW.holder_armory_id, 0), 1)
        ON CONFLICT (home_armory_id, holder_kind, holder_armory_id) DO UPDATE SET items = items + 1;"""
_SUBTRACT_SQLITE = f"""UPDATE {TALLY} SET items = items - 1 WHERE home_armory_id = OLD.home_armory_id
        AND holder_kind = OLD.holder_kind AND holder_armory_id = COALESCE(OLD.holder_armory_id, 0);"""

_SQLITE = [
    f"""CREATE TRIGGER IF NOT EXISTS ledger_refuse_update BEFORE UPDATE ON {LEDGER}
    BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: UPDATE refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS ledger_refuse_delete BEFORE DELETE ON {LEDGER}
    BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: DELETE refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS ledger_chain_continuous BEFORE INSERT ON {LEDGER}
    WHEN NEW.seq != COALESCE((SELECT MAX(seq) FROM {LEDGER}), 0) + 1
      OR NEW.prev_hash != COALESCE((SELECT hash FROM {LEDGER} WHERE seq = NEW.seq - 1), '{GENESIS}')
    BEGIN SELECT RAISE(ABORT, 'custody ledger: event out of sequence or not chained to the previous one'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS ledger_custody_continuous BEFORE INSERT ON {LEDGER}
    WHEN NEW.item_id IS NOT NULL AND NEW.item_version > 1 AND NOT EXISTS (
        SELECT 1 FROM {LEDGER} p WHERE p.item_id = NEW.item_id AND p.item_version = NEW.item_version - 1
          AND p.to_kind IS NEW.from_kind AND p.to_armory_id IS NEW.from_armory_id
          AND p.to_member_id IS NEW.from_member_id)
    BEGIN SELECT RAISE(ABORT, 'custody ledger: the item is not held by the event''s from-holder'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS ledger_lot_versions_continuous BEFORE INSERT ON {LEDGER}
    WHEN NEW.lot_id IS NOT NULL AND NEW.item_version > 1 AND NOT EXISTS (
        SELECT 1 FROM {LEDGER} p WHERE p.lot_id = NEW.lot_id AND p.item_version = NEW.item_version - 1)
    BEGIN SELECT RAISE(ABORT, 'custody ledger: a lot event must follow the lot''s previous one'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS lot_version_follows_ledger BEFORE UPDATE ON {LOT}
    WHEN NEW.version != OLD.version
    BEGIN SELECT RAISE(ABORT, 'custody: a lot''s version changes only with its ledger event')
    WHERE NOT EXISTS (SELECT 1 FROM {LEDGER} e WHERE e.lot_id = NEW.id AND e.item_version = NEW.version)
      OR NEW.version != OLD.version + 1; END""",
    f"""CREATE TRIGGER IF NOT EXISTS item_holder_follows_ledger BEFORE UPDATE ON {ITEM}
    WHEN NEW.custody_version != OLD.custody_version OR NEW.holder_kind IS NOT OLD.holder_kind
      OR NEW.holder_armory_id IS NOT OLD.holder_armory_id OR NEW.holder_member_id IS NOT OLD.holder_member_id
    BEGIN SELECT RAISE(ABORT, 'custody: an item''s holder changes only with its ledger event')
    WHERE NOT EXISTS (
        SELECT 1 FROM {LEDGER} e WHERE e.item_id = NEW.id AND e.item_version = NEW.custody_version
          AND e.to_kind IS NEW.holder_kind AND e.to_armory_id IS NEW.holder_armory_id
          AND e.to_member_id IS NEW.holder_member_id)
      OR NEW.custody_version != OLD.custody_version + 1; END""",
    f"""CREATE TRIGGER IF NOT EXISTS item_tally_insert AFTER INSERT ON {ITEM}
    BEGIN {_ADD_SQLITE} END""",
    f"""CREATE TRIGGER IF NOT EXISTS item_tally_update AFTER UPDATE ON {ITEM}
    WHEN NEW.home_armory_id IS NOT OLD.home_armory_id OR NEW.holder_kind IS NOT OLD.holder_kind
      OR NEW.holder_armory_id IS NOT OLD.holder_armory_id
    BEGIN {_SUBTRACT_SQLITE} {_ADD_SQLITE} END""",
    f"""CREATE TRIGGER IF NOT EXISTS item_tally_delete AFTER DELETE ON {ITEM}
    BEGIN {_SUBTRACT_SQLITE} END""",
]

_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS ledger_refuse_update",
    "DROP TRIGGER IF EXISTS ledger_refuse_delete",
    "DROP TRIGGER IF EXISTS ledger_chain_continuous",
    "DROP TRIGGER IF EXISTS ledger_custody_continuous",
    "DROP TRIGGER IF EXISTS item_holder_follows_ledger",
    "DROP TRIGGER IF EXISTS ledger_lot_versions_continuous",
    "DROP TRIGGER IF EXISTS lot_version_follows_ledger",
    "DROP TRIGGER IF EXISTS item_tally_insert",
    "DROP TRIGGER IF EXISTS item_tally_update",
    "DROP TRIGGER IF EXISTS item_tally_delete",
]

_POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION muster_ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' AND NOT EXISTS (SELECT 1 FROM {LEDGER}) THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'custody ledger is append-only: % refused', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    f"""CREATE OR REPLACE FUNCTION muster_ledger_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        last_seq bigint;
        last_hash text;
    BEGIN
        SELECT seq, hash INTO last_seq, last_hash FROM {LEDGER} ORDER BY seq DESC LIMIT 1;
        IF NEW.seq <> COALESCE(last_seq, 0) + 1 OR NEW.prev_hash <> COALESCE(last_hash, '{GENESIS}') THEN
            RAISE EXCEPTION 'custody ledger: event out of sequence or not chained to the previous one'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.lot_id IS NOT NULL AND NEW.item_version > 1 AND NOT EXISTS (
            SELECT 1 FROM {LEDGER} p WHERE p.lot_id = NEW.lot_id AND p.item_version = NEW.item_version - 1) THEN
            RAISE EXCEPTION 'custody ledger: a lot event must follow the lot''s previous one'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.item_id IS NOT NULL AND NEW.item_version > 1 AND NOT EXISTS (
            SELECT 1 FROM {LEDGER} p WHERE p.item_id = NEW.item_id AND p.item_version = NEW.item_version - 1
              AND p.to_kind IS NOT DISTINCT FROM NEW.from_kind
              AND p.to_armory_id IS NOT DISTINCT FROM NEW.from_armory_id
              AND p.to_member_id IS NOT DISTINCT FROM NEW.from_member_id) THEN
            RAISE EXCEPTION 'custody ledger: the item is not held by the event''s from-holder'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION muster_item_holder_follows_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.custody_version IS DISTINCT FROM OLD.custody_version
           OR NEW.holder_kind IS DISTINCT FROM OLD.holder_kind
           OR NEW.holder_armory_id IS DISTINCT FROM OLD.holder_armory_id
           OR NEW.holder_member_id IS DISTINCT FROM OLD.holder_member_id THEN
            IF NEW.custody_version <> OLD.custody_version + 1 OR NOT EXISTS (
                SELECT 1 FROM {LEDGER} e WHERE e.item_id = NEW.id AND e.item_version = NEW.custody_version
                  AND e.to_kind IS NOT DISTINCT FROM NEW.holder_kind
                  AND e.to_armory_id IS NOT DISTINCT FROM NEW.holder_armory_id
                  AND e.to_member_id IS NOT DISTINCT FROM NEW.holder_member_id) THEN
                RAISE EXCEPTION 'custody: an item''s holder changes only with its ledger event'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
        END IF;
        RETURN NEW;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION muster_lot_version_follows_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.version IS DISTINCT FROM OLD.version AND (NEW.version <> OLD.version + 1 OR NOT EXISTS (
                SELECT 1 FROM {LEDGER} e WHERE e.lot_id = NEW.id AND e.item_version = NEW.version)) THEN
            RAISE EXCEPTION 'custody: a lot''s version changes only with its ledger event'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION muster_item_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.home_armory_id IS NOT DISTINCT FROM OLD.home_armory_id
           AND NEW.holder_kind IS NOT DISTINCT FROM OLD.holder_kind
           AND NEW.holder_armory_id IS NOT DISTINCT FROM OLD.holder_armory_id THEN
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE {TALLY} SET items = items - 1 WHERE home_armory_id = OLD.home_armory_id
              AND holder_kind = OLD.holder_kind AND holder_armory_id = COALESCE(OLD.holder_armory_id, 0);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO {TALLY} (home_armory_id, holder_kind, holder_armory_id, items)
            VALUES (NEW.home_armory_id, NEW.holder_kind, COALESCE(NEW.holder_armory_id, 0), 1)
            ON CONFLICT (home_armory_id, holder_kind, holder_armory_id) DO UPDATE SET items = {TALLY}.items + 1;
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE TRIGGER item_tally AFTER INSERT OR UPDATE OR DELETE ON {ITEM}
        FOR EACH ROW EXECUTE FUNCTION muster_item_tally()""",
    f"""CREATE OR REPLACE TRIGGER ledger_refuse_update_delete BEFORE UPDATE OR DELETE ON {LEDGER}
        FOR EACH ROW EXECUTE FUNCTION muster_ledger_refuse_change()""",
    f"""CREATE OR REPLACE TRIGGER ledger_refuse_truncate BEFORE TRUNCATE ON {LEDGER}
        FOR EACH STATEMENT EXECUTE FUNCTION muster_ledger_refuse_change()""",
    f"""CREATE OR REPLACE TRIGGER ledger_check_insert BEFORE INSERT ON {LEDGER}
        FOR EACH ROW EXECUTE FUNCTION muster_ledger_check_insert()""",
    f"""CREATE OR REPLACE TRIGGER item_holder_follows_ledger BEFORE UPDATE ON {ITEM}
        FOR EACH ROW EXECUTE FUNCTION muster_item_holder_follows_ledger()""",
    f"""CREATE OR REPLACE TRIGGER lot_version_follows_ledger BEFORE UPDATE ON {LOT}
        FOR EACH ROW EXECUTE FUNCTION muster_lot_version_follows_ledger()""",
]

_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS ledger_refuse_update_delete ON {LEDGER}",
    f"DROP TRIGGER IF EXISTS ledger_refuse_truncate ON {LEDGER}",
    f"DROP TRIGGER IF EXISTS ledger_check_insert ON {LEDGER}",
    f"DROP TRIGGER IF EXISTS item_holder_follows_ledger ON {ITEM}",
    f"DROP TRIGGER IF EXISTS lot_version_follows_ledger ON {LOT}",
    f"DROP TRIGGER IF EXISTS item_tally ON {ITEM}",
]


def _statements(connection: BaseDatabaseWrapper, *, drop: bool) -> list[str]:
    if connection.vendor == "sqlite":
        statements = _SQLITE_DROP if drop else _SQLITE
    elif connection.vendor == "postgresql":
        statements = _POSTGRES_DROP if drop else _POSTGRES
    else:
        raise NotImplementedError(f"no custody triggers for {connection.vendor}")
    # Migrations before lots existed (custody/0011) install and remove the other triggers only. SQLite resolves a
    # trigger's column names when it is created, PostgreSQL's PL/pgSQL when it runs.
    tables = connection.introspection.table_names()
    if LOT not in tables:
        needs_lots = rf"\bON {LOT}\b|lot_id" if connection.vendor == "sqlite" else rf"\bON {LOT}\b"
        statements = [statement for statement in statements if not re.search(needs_lots, statement)]
    if TALLY not in tables:  # likewise before the tally (custody/0013)
        statements = [statement for statement in statements if "tally" not in statement]
    return statements


def install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, drop=False):
            cursor.execute(statement)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, drop=True):
            cursor.execute(statement)


def install_from_migration(apps, schema_editor) -> None:
    install(schema_editor.connection)


def uninstall_from_migration(apps, schema_editor) -> None:
    uninstall(schema_editor.connection)


def rebuild_tally(connection: BaseDatabaseWrapper) -> None:
    """Recount the armory tally from the items table (after a bulk load with the triggers off, and when the tally
    is first created)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TALLY}")
        cursor.execute(
            f"INSERT INTO {TALLY} (home_armory_id, holder_kind, holder_armory_id, items) "
            f"SELECT home_armory_id, holder_kind, COALESCE(holder_armory_id, 0), COUNT(*) FROM {ITEM} "
            "GROUP BY home_armory_id, holder_kind, COALESCE(holder_armory_id, 0)"
        )


def start_tally_from_migration(apps, schema_editor) -> None:
    install(schema_editor.connection)
    rebuild_tally(schema_editor.connection)


def stop_tally_from_migration(apps, schema_editor) -> None:
    """Back before the tally: drop its triggers only; the others stay."""
    with schema_editor.connection.cursor() as cursor:
        for statement in _statements(schema_editor.connection, drop=True):
            if "tally" in statement:
                cursor.execute(statement)
