"""Log lines a log processor reads (settings.LOGGING, docs/deployment.md *Logs*).

JsonFormatter writes each record as one JSON object on one line: "time" (ISO 8601 in UTC, with milliseconds and
"Z"), "level", "logger", "message", the fields of an audit record ("audit": kind, user, ip, path, detail, event)
where core.audit attaches them, and "exception" (the traceback, as one string) when there is one. JSON escapes
control characters, so a user-supplied newline cannot start a forged line. TextFormatter writes the same record as
plain text for a terminal, its time in UTC too.
"""

import json
import logging
from datetime import UTC, datetime


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
