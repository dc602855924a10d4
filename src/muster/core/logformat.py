"""Log lines a log processor reads (settings.LOGGING, docs/deployment.md *Logs*).

JsonFormatter writes each record as one JSON object on one line: "time" (ISO 8601 in UTC, with milliseconds and
"Z"), "level", "logger", "message", the fields of an audit record ("audit": kind, user, ip, path, detail, event)
where core.audit attaches them, and "exception" (the traceback, as one string) when there is one. JSON escapes
control characters, so a user-supplied newline cannot start a forged line. TextFormatter writes the same record as
plain text for a terminal, its time in UTC too.

`syslog_handler` sends the same lines to a syslog collector off the server (MUSTER_LOG_SYSLOG), so that someone
who takes the server over cannot quietly rewrite what was logged before (ASVS 16.4.3).
"""

import json
import logging
import re
import socket
from datetime import UTC, datetime
from logging.handlers import SysLogHandler


def utc_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            entry["audit"] = audit
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)  # ASCII only: no character of any kind can break the line


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record)


class _SysLogHandler(SysLogHandler):
    def createSocket(self) -> None:
        # A collector that is down (TCP) must not stop the server from starting: the handler tries again at the next
        # line, and every line is on stderr meanwhile.
        try:
            super().createSocket()
        except OSError:
            self.socket = None


def syslog_handler(address: str, facility: str = "local0") -> SysLogHandler:
    """A SysLogHandler for an address as core.env.env_syslog accepts it: udp://HOST:PORT, tcp://HOST:PORT or the
    path of a local socket. Each line is tagged "muster:" (RFC 3164's tag), so a collector can route it."""
    match = re.fullmatch(r"(udp|tcp)://\[?([^\]]+?)\]?:([0-9]+)", address)
    if match:
        kind = socket.SOCK_DGRAM if match.group(1) == "udp" else socket.SOCK_STREAM
        handler = _SysLogHandler(address=(match.group(2), int(match.group(3))), facility=facility, socktype=kind)
    else:
        handler = _SysLogHandler(address=address, facility=facility)
    handler.ident = "muster: "
    return handler
