"""Log lines leave the server (ASVS 16.4.3): with MUSTER_LOG_SYSLOG set, every line also goes by syslog to a
collector, over UDP, TCP or a local socket, as the same JSON object stderr gets, tagged "muster:" with the chosen
facility. A collector here is a socket the test listens on; the server is a separate Python process that starts
Django with that environment and logs an audit line. A malformed address or facility stops start-up."""

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from muster.core.tests.test_settings import load_settings

EMIT = (
    "import django, logging, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'muster.settings'; django.setup(); "
    "logging.getLogger('muster.audit').info('login user=olena ip=10.0.0.9 path=/login/', "
    "extra={'audit': {'kind': 'login', 'user': 'olena', 'ip': '10.0.0.9', 'path': '/login/', 'detail': '', "
    "'event': 41}})"
)


def run_server_process(**env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MUSTER_")}
    environment.pop("DATABASE_URL", None)
    environment.update(env, MUSTER_VAR_DIR="/tmp/muster-settings-test")
    return subprocess.run([sys.executable, "-c", EMIT], env=environment, capture_output=True, text=True, timeout=60)


def parse(datagram: bytes) -> tuple[int, dict]:
    """<PRI>muster: {json}, with the NUL Python's SysLogHandler ends a message with."""
    text = datagram.decode().rstrip("\x00\n")
    assert text.startswith("<"), text
    priority, _, rest = text[1:].partition(">")
    assert rest.startswith("muster: "), rest
    return int(priority), json.loads(rest.removeprefix("muster: "))


def check_line(priority: int, line: dict, *, facility: int) -> None:
    assert priority == facility * 8 + 6  # severity 6: informational
    assert (line["logger"], line["level"], line["message"]) == (
        "muster.audit",
        "INFO",
        "login user=olena ip=10.0.0.9 path=/login/",
    )
    assert line["audit"] == {"kind": "login", "user": "olena", "ip": "10.0.0.9", "path": "/login/", "detail": "",
                             "event": 41}  # fmt: skip
    assert line["time"].endswith("Z")


def test_over_udp_each_line_reaches_the_collector_as_json():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(30)
        port = collector.getsockname()[1]
        result = run_server_process(MUSTER_LOG_SYSLOG=f"udp://127.0.0.1:{port}")
        assert result.returncode == 0, result.stderr
        priority, line = parse(collector.recv(65536))
    check_line(priority, line, facility=16)  # local0
    assert json.loads(result.stderr.strip().splitlines()[-1]) == line  # stderr keeps the same line


def test_over_tcp_with_another_facility():
    received: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.listen(1)
        collector.settimeout(30)
        port = collector.getsockname()[1]

        def accept() -> None:
            connection, _ = collector.accept()
            with connection:
                while chunk := connection.recv(65536):
                    received.append(chunk)

        reader = threading.Thread(target=accept)
        reader.start()
        result = run_server_process(MUSTER_LOG_SYSLOG=f"tcp://127.0.0.1:{port}", MUSTER_LOG_SYSLOG_FACILITY="local3")
        reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    priority, line = parse(b"".join(received))
    check_line(priority, line, facility=19)  # local3


def test_to_a_local_syslog_socket(tmp_path):
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as collector:
        collector.bind(path)
        collector.settimeout(30)
        result = run_server_process(MUSTER_LOG_SYSLOG=path)
        assert result.returncode == 0, result.stderr
        priority, line = parse(collector.recv(65536))
    check_line(priority, line, facility=16)


def test_a_collector_that_is_down_does_not_stop_the_server():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_server_process(MUSTER_LOG_SYSLOG=f"tcp://127.0.0.1:{port}")
    assert result.returncode == 0, result.stderr
    assert '"message": "login user=olena ip=10.0.0.9 path=/login/"' in result.stderr  # stderr still has the line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MUSTER_LOG_SYSLOG", "syslog.example.org"),
        ("MUSTER_LOG_SYSLOG", "http://syslog.example.org:514"),
        ("MUSTER_LOG_SYSLOG", "udp://syslog.example.org"),
        ("MUSTER_LOG_SYSLOG", "tcp://syslog.example.org:70000"),
        ("MUSTER_LOG_SYSLOG_FACILITY", "local9"),
    ],
)
def test_a_malformed_syslog_setting_stops_start_up(name, value):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr
