"""Consistent backups while the server runs, and restores: SQLite's online backup API, pg_dump/pg_restore."""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection

from muster.core.errors import Invalid


def _pg_env() -> tuple[list[str], dict]:
    settings = connection.settings_dict
    args = ["--host", settings.get("HOST") or "localhost", "--port", str(settings.get("PORT") or 5432)]
    if settings.get("USER"):
        args += ["--username", settings["USER"]]
    env = dict(os.environ)
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Invalid(f"{name} is not installed; install the PostgreSQL client tools.", code="tool_missing")
    return path


def backup(target: Path) -> None:
    """Write a consistent copy of the whole database to `target` while others keep writing."""
    if target.exists():
        raise Invalid(f"{target} exists; choose a new file name (backups are never overwritten).", code="file_exists")
    if connection.vendor == "sqlite":
        if not target.parent.is_dir():
            raise Invalid(f"{target}: the folder {target.parent} does not exist.", code="backup_failed")
        connection.ensure_connection()
        try:
            destination = sqlite3.connect(target)
        except sqlite3.Error as exc:
            raise Invalid(f"Cannot write a backup to {target}: {exc}", code="backup_failed") from None
        try:
            connection.connection.backup(destination)  # pages copied under SQLite's own locking: a snapshot
            result = destination.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            destination.close()
        if result != "ok":
            target.unlink(missing_ok=True)
            raise Invalid(f"The copy failed SQLite's integrity check: {result}", code="backup_corrupt")
        return
    args, env = _pg_env()
    command = [_tool("pg_dump"), *args, "--format=custom", "--file", str(target), connection.settings_dict["NAME"]]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        target.unlink(missing_ok=True)
        raise Invalid(f"pg_dump failed: {completed.stderr.strip()}", code="backup_failed")


def restore(source: Path) -> None:
    """Replace the database's contents with the backup in `source`. Stop the web server and worker first."""
    if not source.is_file():
        raise Invalid(f"No backup file at {source}.", code="file_missing")
    if connection.vendor == "sqlite":
        try:
            origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            check = origin.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in origin.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise Invalid(f"{source} is not an SQLite backup: {exc}", code="not_a_backup") from None
        if check != "ok" or "custody_ledgerevent" not in tables:
            origin.close()
            raise Invalid(f"{source} is not a sound Muster backup ({check}).", code="not_a_backup")
        connection.ensure_connection()
        try:
            origin.backup(connection.connection)
        finally:
            origin.close()
        return
    args, env = _pg_env()
    command = [
        _tool("pg_restore"),
        *args,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--dbname",
        connection.settings_dict["NAME"],
        str(source),
    ]
    connection.close()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise Invalid(f"pg_restore failed: {completed.stderr.strip()}", code="restore_failed")
