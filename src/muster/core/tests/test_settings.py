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


def test_production_mode_refuses_to_switch_off_two_factor_sign_in():
    production = {"MUSTER_MODE": "production", "MUSTER_SECRET_KEY": SAFE_KEY, "MUSTER_ALLOWED_HOSTS": "a.example"}
    result = load_settings(**production, MUSTER_REQUIRE_TOTP="false")
    assert result.returncode != 0
    assert "Production mode refuses MUSTER_REQUIRE_TOTP=false" in result.stderr
    assert load_settings(MUSTER_REQUIRE_TOTP="false").returncode == 0  # the demo's development mode may


def settings_of(*names: str, **env: str) -> list[str]:
    """The values of the named settings, as loaded with `env`."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='muster.settings'; django.setup(); "
        f"from django.conf import settings; print(repr([getattr(settings, n) for n in {list(names)!r}]))"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MUSTER_")}
    environment.pop("DATABASE_URL", None)
    environment.update(env, MUSTER_VAR_DIR="/tmp/muster-settings-test")
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 (our own repr of settings)


def test_the_proxy_count_sets_how_axes_and_the_audit_trail_read_the_address():
    names = ("AXES_IPWARE_PROXY_COUNT", "AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_CLIENT_IP_CALLABLE")
    assert settings_of(*names) == [None, ("REMOTE_ADDR",), "muster.core.audit.client_ip"]
    assert settings_of(*names[:2], MUSTER_PROXY_COUNT="1") == [0, ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")]
    assert settings_of(*names[:2], MUSTER_PROXY_COUNT="2") == [1, ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")]


def test_api_rates_and_the_common_password_list_come_from_the_environment(tmp_path):
    listing = tmp_path / "passwords.txt"
    listing.write_text("one-leaked-password\n")
    rates, validators = settings_of(
        "REST_FRAMEWORK", "AUTH_PASSWORD_VALIDATORS",
        MUSTER_API_RATE="300/m", MUSTER_API_RATE_DOCUMENTS="10/hour", MUSTER_COMMON_PASSWORDS_FILE=str(listing),
    )  # fmt: skip
    assert rates["DEFAULT_THROTTLE_RATES"] == {
        "account": "300/minute", "anonymous": "120/minute", "token": "10/minute", "documents": "10/hour",
    }  # fmt: skip
    common = next(v for v in validators if v["NAME"].endswith("CommonPasswordValidator"))
    assert common["OPTIONS"] == {"password_list_path": str(listing)}


def test_the_api_token_lifetime_comes_from_the_environment():
    assert settings_of("MUSTER_API_TOKEN_DAYS") == [30]
    assert settings_of("MUSTER_API_TOKEN_DAYS", MUSTER_API_TOKEN_DAYS=" 7 ") == [7]
    assert settings_of("REST_FRAMEWORK")[0]["DEFAULT_AUTHENTICATION_CLASSES"][0] == (
        "muster.core.authentication.ExpiringTokenAuthentication"
    )


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("MUSTER_API_RATE", "lots", "not a rate"),
        ("MUSTER_API_RATE_TOKEN", "10/fortnight", "not a rate"),
        ("MUSTER_API_RATE_DOCUMENTS", "0/minute", "not a rate"),
        ("MUSTER_PROXY_COUNT", "-1", "below the minimum"),
        ("MUSTER_COMMON_PASSWORDS_FILE", "/nonexistent/passwords.txt", "not a readable file"),
        ("MUSTER_API_THROTTLING", "sometimes", "not a boolean"),
        ("MUSTER_DEBUG", "maybe", "not a boolean"),
        ("MUSTER_MODE", "prod", "not one of"),
        ("MUSTER_SQLITE_TIMEOUT", "soon", "not a whole number"),
        ("MUSTER_ALLOWED_HOSTS", "a.example,,b.example", "empty entry"),
        ("MUSTER_API_TOKEN_DAYS", "a month", "not a whole number"),
        ("MUSTER_API_TOKEN_DAYS", "0", "below the minimum 1"),
        ("MUSTER_API_TOKEN_DAYS", "400", "above the maximum 365"),
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
