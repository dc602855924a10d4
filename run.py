#!/usr/bin/env python3
"""Set up and run Muster on a fresh machine that has only Python 3.11+.

    python3 run.py demo            virtualenv, install, migrate, seed a demo unit, serve on http://127.0.0.1:8000
    python3 run.py demo --members 3000    the same with a unit of real size
    python3 run.py test            virtualenv, install with test tools, lint, checks, the whole test suite

Everything lands in ./.venv and ./var (the SQLite database). DATABASE_URL switches to PostgreSQL.
"""

from __future__ import annotations  # so that an old Python reaches the version check below

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def run(*args: str | Path, env: dict | None = None) -> None:
    result = subprocess.run([str(arg) for arg in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(extras: str) -> None:
    """Create the virtualenv and install the project, skipping the install when nothing changed since the last."""
    if sys.version_info < (3, 11):  # noqa: UP036 — run.py itself may be started by an older python3
        sys.exit(f"Muster needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        say("creating the virtualenv in .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say(f"installing Muster{' with ' + extras if extras else ''} into .venv")
    target = f".[{extras}]" if extras else "."
    run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target)
    stamp.write_text(wanted)


def muster(*args: str, env: dict | None = None) -> None:
    run(BIN / "muster", *args, env=env)


def demo(options: argparse.Namespace) -> None:
    ensure_venv("")
    # The printed demo accounts sign in with a password alone; production asks staff for a TOTP code as well.
    env = {**os.environ, "MUSTER_REQUIRE_TOTP": os.environ.get("MUSTER_REQUIRE_TOTP") or "false"}
    say("migrating the database")
    muster("migrate", "--no-input", "-v", "0")
    seed = ["demo", "--members", str(options.members), "--if-empty"]
    if options.reset:
        seed.append("--reset")
    say("seeding the demo unit (skipped when the database already holds one)")
    muster(*seed, env=env)
    say("starting the background worker (e-mail, webhooks, recalls, escalations, counts, expiry warnings)")
    worker = subprocess.Popen([str(BIN / "muster"), "worker"], cwd=ROOT, env=env)
    say(f"serving on http://127.0.0.1:{options.port}  (Ctrl+C stops)")
    try:
        subprocess.run([str(BIN / "muster"), "runserver", f"127.0.0.1:{options.port}"], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        pass
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


def test(options: argparse.Namespace) -> None:
    ensure_venv("dev")
    say("ruff: lint and format")
    run(BIN / "ruff", "check", "src", "run.py", "bench", "tools")
    run(BIN / "ruff", "format", "--check", "src", "run.py", "bench", "tools")
    say("django checks and missing migrations")
    muster("check", "--fail-level", "WARNING")
    muster("makemigrations", "--check", "--dry-run", "-v", "1")
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    # The whole suite runs on every core (pytest-xdist, a test database per worker); given arguments, pytest runs
    # just what they say.
    spread = [] if options.pytest_args else ["-n", "auto", "--dist", "worksteal"]
    say(f"pytest on {database}" + (", one worker per core" if spread else ""))
    run(BIN / "pytest", *spread, *options.pytest_args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="set up, seed a demo unit and serve it")
    demo_parser.add_argument("--members", type=int, default=300, help="members in the demo unit (real size: 3000)")
    demo_parser.add_argument("--port", type=int, default=8000)
    demo_parser.add_argument("--reset", action="store_true", help="throw away the demo database and seed anew")
    commands.add_parser("test", help="set up and run the whole test suite; further arguments go to pytest")
    # Everything after `test` is pytest's, options included (`run.py test -x -k counts`), so it is not parsed here.
    options, rest = parser.parse_known_args()
    if rest and options.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    options.pytest_args = rest
    {"demo": demo, "test": test}[options.command](options)


if __name__ == "__main__":
    main()
