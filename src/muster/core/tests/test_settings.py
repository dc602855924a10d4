"""Settings come from the environment, strictly: production mode refuses unsafe values, typos stop start-up."""

import os
import subprocess
import sys

import pytest

SAFE_KEY = "k" * 64


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MUSTER_")}
    environment.pop("DATABASE_URL", None)
    environment.update(env)
    environment["MUSTER_VAR_DIR"] = env.get("MUSTER_VAR_DIR", "/tmp/muster-settings-test")
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='muster.settings'; django.setup(); print('ok')"
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)


def test_development_mode_starts_with_defaults():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_production_mode_refuses_the_default_secret_key():
    result = load_settings(MUSTER_MODE="production", MUSTER_ALLOWED_HOSTS="muster.example.org")
    assert result.returncode != 0
    assert "MUSTER_SECRET_KEY" in result.stderr


def test_production_mode_refuses_debug():
    result = load_settings(MUSTER_MODE="production", MUSTER_SECRET_KEY=SAFE_KEY, MUSTER_DEBUG="true")
    assert result.returncode != 0
    assert "MUSTER_DEBUG" in result.stderr


def test_production_mode_starts_with_a_real_key():
    result = load_settings(MUSTER_MODE="production", MUSTER_SECRET_KEY=SAFE_KEY, MUSTER_ALLOWED_HOSTS="a.example")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("MUSTER_DEBUG", "maybe", "not a boolean"),
        ("MUSTER_MODE", "prod", "not one of"),
        ("MUSTER_SQLITE_TIMEOUT", "soon", "not a whole number"),
        ("MUSTER_ALLOWED_HOSTS", "a.example,,b.example", "empty entry"),
        ("DATABASE_URL", "mysql://root@localhost/muster", "supports SQLite and PostgreSQL"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_the_variable(name, value, complaint):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert complaint in result.stderr


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only setting; this run uses " + connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 1000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_production_settings_pass_djangos_deployment_checks_without_a_warning(tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MUSTER_")}
    environment.pop("DATABASE_URL", None)
    environment.update(
        MUSTER_MODE="production",
        MUSTER_SECRET_KEY=SAFE_KEY + "-x9#Q",
        MUSTER_ALLOWED_HOSTS="muster.example.org",
        MUSTER_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-m", "muster", "check", "--deploy", "--fail-level", "WARNING"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout
