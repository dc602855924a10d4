"""The settings notifications need (MUSTER_BASE_URL, MUSTER_EMAIL_TIMEOUT) and the worker's own output: what it
runs, each log line once, and no django-axes banner on any command."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

SAFE_KEY = "k" * 64
PRINT = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='muster.settings'; django.setup(); from django.conf import settings; print(settings.MUSTER_BASE_URL, settings.EMAIL_TIMEOUT, settings.MUSTER_EXPIRY_WARNING_DAYS)"  # noqa: E501


def environment(tmp_path: Path, **env: str) -> dict:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("MUSTER_")}
    clean.pop("DATABASE_URL", None)
    clean.update(env)
    clean["MUSTER_VAR_DIR"] = str(tmp_path)
    return clean


def settings_of(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PRINT], env=environment(tmp_path, **env), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "printed"),
    [
        ({}, "http://127.0.0.1:8000 10 30"),
        ({"MUSTER_BASE_URL": "https://muster.example.org/"}, "https://muster.example.org 10 30"),
        ({"MUSTER_BASE_URL": "http://10.0.0.5:8080", "MUSTER_EMAIL_TIMEOUT": "3"}, "http://10.0.0.5:8080 3 30"),
        ({"MUSTER_EXPIRY_WARNING_DAYS": "45"}, "http://127.0.0.1:8000 10 45"),
        (
            {
                "MUSTER_MODE": "production",
                "MUSTER_SECRET_KEY": SAFE_KEY,
                "MUSTER_ALLOWED_HOSTS": ".example.org,a.example",
            },
            "https://a.example 10 30",
        ),
    ],
)
def test_the_settings_read_the_environment(tmp_path, env, printed):
    result = settings_of(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("MUSTER_BASE_URL", "muster.example.org", "not a site address"),
        ("MUSTER_BASE_URL", "ftp://muster.example.org", "not a site address"),
        ("MUSTER_BASE_URL", "https://muster.example.org/muster", "no path"),
        ("MUSTER_BASE_URL", "https://muster.example.org:http", "not a site address"),
        ("MUSTER_EMAIL_TIMEOUT", "soon", "not a whole number"),
        ("MUSTER_EMAIL_TIMEOUT", "0", "below the minimum"),
        ("MUSTER_EXPIRY_WARNING_DAYS", "0", "below the minimum"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_it(tmp_path, name, value, complaint):
    result = settings_of(tmp_path, **{name: value})
    assert result.returncode != 0
    assert name in result.stderr and complaint in result.stderr


def test_production_without_a_base_url_or_a_real_host_refuses_to_start(tmp_path):
    result = settings_of(tmp_path, MUSTER_MODE="production", MUSTER_SECRET_KEY=SAFE_KEY, MUSTER_ALLOWED_HOSTS="*")
    assert result.returncode != 0
    assert "MUSTER_BASE_URL" in result.stderr


def test_commands_print_no_axes_banner(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "muster", "check"], env=environment(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "AXES" not in result.stderr and "AXES" not in result.stdout


def test_the_worker_logs_each_line_once(tmp_path):
    worker = subprocess.Popen(
        [sys.executable, "-m", "muster", "worker", "--workers", "1"],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = worker.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Periodic tasks are enabled" in line:
                break
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
    output = "".join(lines)
    assert sum("Huey consumer started" in line for line in lines) == 1, output
    assert sum("Periodic tasks are enabled" in line for line in lines) == 1, output
    assert "AXES" not in output


def test_the_worker_lists_what_it_runs(capsys):
    call_command("worker", "--list")
    out = capsys.readouterr().out
    for job in (
        "muster.core.tasks.send_notification_emails",
        "muster.core.tasks.retry_notification_emails",
        "muster.core.tasks.deliver_webhooks",
        "muster.core.tasks.retry_webhooks",
        "muster.custody.tasks.scan_for_recalls",
        "muster.custody.tasks.escalate_overdue_items",
        "muster.members.tasks.warn_expiring_vetting_daily",
        "muster.training.tasks.warn_expiring_qualifications_daily",
    ):
        assert job in out
    assert "periodic  muster.members.tasks.warn_expiring_vetting_daily" in out
    assert "queued    muster.core.tasks.send_notification_emails" in out


def test_the_worker_help_names_more_than_recall_scans():
    from muster.core.management.commands.worker import Command

    text = Command.help
    for job in ("e-mail", "webhooks", "recalls", "overdue", "loss", "counts", "checkpoint", "expiring"):
        assert job in text


HUEY_URL = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='muster.settings'; django.setup(); from django.conf import settings; print(settings.HUEY['connection']['url'])"  # noqa: E501


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0?socket_connect_timeout=5&socket_timeout=10"),
        (
            "redis://q.example:6379/2?socket_timeout=3",
            "redis://q.example:6379/2?socket_timeout=3&socket_connect_timeout=5",
        ),
    ],
)
def test_a_redis_queue_gets_socket_timeouts_so_queueing_cannot_hang_a_request(tmp_path, url, printed):
    result = subprocess.run(
        [sys.executable, "-c", HUEY_URL], env=environment(tmp_path, MUSTER_REDIS_URL=url), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed
