"""Log lines (docs/security.md *Logs*, ASVS 16.2.2 and 16.2.4): one JSON object per line with the time in UTC, the
audit record's fields where there is one, and nothing a user types can break the line."""

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from django.test import Client

from muster.core.logformat import JsonFormatter, TextFormatter
from muster.core.tests.test_settings import load_settings

pytestmark = pytest.mark.django_db

UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(message: str, *args, **extra) -> logging.LogRecord:
    made = logging.LogRecord("muster.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_line_with_its_time_in_utc(settings):
    settings.TIME_ZONE = "Europe/Kyiv"
    line = JsonFormatter().format(record("item %s overdue", "AK-1"))
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message"}
    assert UTC_STAMP.fullmatch(entry["time"])
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "muster.test", "item AK-1 overdue")


def test_a_newline_or_any_control_character_stays_inside_the_line():
    line = JsonFormatter().format(record("user=%s", "mallory\nlogin user=dave\r\x1b[2J\u2028"))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert json.loads(line)["message"] == "user=mallory\nlogin user=dave\r\x1b[2J\u2028"


def test_an_exception_is_kept_as_one_field():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        made = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", (),
                                 sys.exc_info())  # fmt: skip
    entry = json.loads(JsonFormatter().format(made))
    assert entry["exception"].startswith("Traceback") and "RuntimeError: boom" in entry["exception"]


def test_an_audit_line_carries_the_records_fields(world, caplog):
    caplog.set_level(logging.INFO, logger="muster.audit")
    Client(REMOTE_ADDR="10.95.0.1").post("/login/", {"username": "bob\nforged", "password": "wrong-password"})
    [logged] = [line for line in caplog.records if line.name == "muster.audit"]
    entry = json.loads(JsonFormatter().format(logged))
    assert entry["audit"] == {"kind": "login_failed", "user": "bob\nforged", "ip": "10.95.0.1", "path": "/login/",
                              "detail": "", "event": entry["audit"]["event"]}  # fmt: skip
    assert entry["message"] == "login_failed user=bob\\x0aforged ip=10.95.0.1 path=/login/ "


def test_the_text_format_also_stamps_utc():
    line = TextFormatter().format(record("plain %d", 7))
    stamp, rest = line.split(" ", 1)
    assert UTC_STAMP.fullmatch(stamp) and rest == "WARNING muster.test plain 7"


def test_the_server_writes_json_lines_to_stderr_by_default_and_text_on_request():
    code = (
        "import django, logging, os; os.environ['DJANGO_SETTINGS_MODULE']='muster.settings'; django.setup(); "
        "logging.getLogger('muster.audit').info('hello %s', 'world')"
    )
    for fmt, check in (("json", lambda line: json.loads(line)["message"] == "hello world"),
                       ("text", lambda line: line.endswith("INFO muster.audit hello world"))):  # fmt: skip
        env = {"MUSTER_LOG_FORMAT": fmt} if fmt == "text" else {}
        done = subprocess.run([sys.executable, "-c", code], env=_env(**env), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert check(line), line
    assert "MUSTER_LOG_FORMAT" in load_settings(MUSTER_LOG_FORMAT="xml").stderr  # a typo stops start-up


def _env(**extra: str) -> dict:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MUSTER_")}
    environment.pop("DATABASE_URL", None)
    environment["MUSTER_VAR_DIR"] = "/tmp/muster-settings-test"
    return {**environment, **extra}
