"""Shared set-up for the benchmarks: a throwaway database, Django, and a one-line machine description.

Each benchmark runs on SQLite by default (a temporary file) or on PostgreSQL with `--postgres URL` (a throwaway
database is created on that server and dropped afterwards).
"""

import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


@contextmanager
def database(postgres_url: str | None):
    """Point Django at a fresh, migrated database for the duration of the block."""
    workdir = tempfile.mkdtemp(prefix="muster-bench-")
    os.environ["MUSTER_VAR_DIR"] = workdir
    dropper = None
    if postgres_url:
        import psycopg

        name = f"muster_bench_{os.getpid()}"
        admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        os.environ["DATABASE_URL"] = postgres_url.rsplit("/", 1)[0] + f"/{name}"

        def dropper():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muster.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        yield
    finally:
        if dropper:
            dropper()
        subprocess.run(["rm", "-rf", workdir], check=False)


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def report(name: str, figure: str, reference: str, ratio: float, goal: str) -> None:
    print(f"{name}\n  figure:    {figure}\n  reference: {reference}\n  ratio:     {ratio:.1%}  (goal {goal})")
    print(f"  machine:   {machine()}")
