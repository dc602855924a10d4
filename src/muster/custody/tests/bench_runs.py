"""Run a bench/ script as the CI-sized test of a reliability promise, on SQLite or on the suite's PostgreSQL.

The scripts make their own throwaway database (a temporary SQLite file, or a muster_bench_<pid> database on the
PostgreSQL server of DATABASE_URL, dropped afterwards), so the test database is never touched.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[4] / "bench"


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


# The run's own database: SQLite by default, PostgreSQL where DATABASE_URL names it (.ci/run's second pass), so each
# pass runs the scripts once on its database and neither repeats the other's.
DATABASES = ["postgresql"] if postgres_url() else ["sqlite"]


def run_bench(script: str, database: str, *arguments: str, timeout: int = 240) -> tuple[int, dict, str]:
    """(exit status, the JSON summary, the whole output) of `bench/<script> --json <arguments>`."""
    command = [sys.executable, str(BENCH / script), "--json", *arguments]
    if database == "postgresql":
        url = postgres_url()
        if url is None:
            pytest.skip("PostgreSQL run: set DATABASE_URL=postgres://… (as .ci/run does) to run this on PostgreSQL")
        command += ["--postgres", url]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=BENCH.parent)
    output = completed.stdout + completed.stderr
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1]) if lines else {}
    return completed.returncode, summary, output
