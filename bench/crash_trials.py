"""Crash trials: SIGKILL writer processes in the middle of custody writes, again and again, and check the database.

    .venv/bin/python bench/crash_trials.py [--postgres URL] [--trials 30] [--writers 2] [--json]

Each trial starts `--writers` fresh OS processes doing issue/return/transfer through the service layer in a loop
over a small shared pool of items. Once every writer has committed at least one operation (so a new writer
continues where the killed ones stopped), the trial waits a random delay and kills them all with SIGKILL — most
kills land inside an operation, often with a transaction open. Then, with a fresh connection, as a restarted
server would: `ledger.verify()` passes (hash chain, ledger head = last event, replay equals the items table),
every item has exactly one holder, every operation a writer acknowledged is in the ledger with the same hash, the
only events nobody acknowledged are operations that were in flight at the kill (committed, but the process died
before it could reply), and on SQLite `PRAGMA integrity_check` says ok. After the last trial a writer runs to
completion unharmed. Exit status 1 on any problem.

Writers log each step to a file with unbuffered writes before and after each call ("B" begin, "A" acknowledged
with seq and hash, "R" refused, "E" unexpected), which survive SIGKILL because they are in the kernel already.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import custody_load as load
from common import database, machine

START_TIMEOUT = 90  # seconds a fresh writer may take to start and commit its first operation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--writers", type=int, default=2, help="writer processes started, then killed, per trial")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--min-delay", type=float, default=0.05, help="seconds after the first commit")
    parser.add_argument("--max-delay", type=float, default=1.5)
    parser.add_argument("--final-ops", type=int, default=100, help="operations of the writer that is not killed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line at the end")
    parser.add_argument("--writer", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--ops", type=int, default=0, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.writer is not None:
        writer(options)
        return
    load.prepare_environment()
    with database(options.postgres):
        summary = run(options)
    print(
        f"crash trials on {summary['database']}: {summary['trials']} trials, {summary['kills']} processes killed "
        f"with SIGKILL ({summary['kills_in_flight']} inside an operation), {summary['acknowledged']:,} operations "
        f"acknowledged, {summary['committed_unacknowledged']} committed but unacknowledged, "
        f"{summary['verified_ok']}/{summary['checks']} checks whole"
    )
    print(f"  final state: {summary['final']['verify']}; SQLite integrity_check: {summary['final']['integrity_check']}")
    print(f"  machine: {summary['machine']}")
    print("RESULT: " + ("FAIL\n  " + "\n  ".join(summary["problems"]) if summary["problems"] else "PASS"))
    if options.json:
        print(json.dumps(summary))
    sys.exit(1 if summary["problems"] else 0)


def run(options) -> dict:
    from django.db import connection, connections

    vendor = connection.vendor
    world = load.build_world(items=options.items, members=options.members, armorers=options.writers)
    registrations = len(world["items"])
    connections.close_all()
    workdir = Path(tempfile.mkdtemp(prefix="muster-crash-"))
    load.write_json(workdir / "world.json", world)
    rng = random.Random(options.seed)
    problems: list[str] = []
    acks: list[list] = []
    kills = in_flight_total = unacknowledged_before = checks = whole = 0
    for trial in range(1, options.trials + 1):
        logs = [workdir / f"trial-{trial}-writer-{w}.log" for w in range(options.writers)]
        writers = [_start(options, workdir, log, index=trial * options.writers + w) for w, log in enumerate(logs)]
        started = _wait_for_first_commit(writers, logs)
        delay = rng.uniform(options.min_delay, options.max_delay)
        if started:
            time.sleep(delay)
        survivors = []  # a writer that ended before the kill crashed by itself
        for process in writers:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
            if process.wait() != -signal.SIGKILL:
                survivors.append(f"a writer ended by itself with status {process.returncode}")
        steps = [_read_log(log) for log in logs]
        trial_acks = [ack for step in steps for ack in step["acks"]]
        in_flight = sum(step["in_flight"] for step in steps)
        acks.extend(trial_acks)
        in_flight_total += in_flight
        checked = load.check_database(acks, registrations)
        checks += 1
        trial_problems = load.database_ok(checked) + survivors
        unacknowledged = checked["events"] - registrations - len(acks)
        new_unacknowledged = unacknowledged - unacknowledged_before
        unacknowledged_before = unacknowledged
        if not started:
            trial_problems.append(f"a writer did not commit within {START_TIMEOUT} s of starting after a kill")
        if not 0 <= new_unacknowledged <= in_flight:
            trial_problems.append(
                f"{new_unacknowledged} events nobody acknowledged, but only {in_flight} operations were in flight"
            )
        for step in steps:
            trial_problems.extend(step["unexpected"])
        whole += not trial_problems
        problems.extend(f"trial {trial}: {problem}" for problem in trial_problems)
        print(
            f"trial {trial:>3}: killed {len(writers)} writers {delay:.2f} s after their first commit; "
            f"{len(trial_acks)} acknowledged, {in_flight} in flight, {new_unacknowledged} committed unacknowledged; "
            f"{'verify ok' if checked['verify_ok'] else 'VERIFY FAILED'}, {checked['events']} events, "
            f"integrity {checked['integrity_check']}" + (f" — {'; '.join(trial_problems)}" if trial_problems else ""),
            flush=True,
        )

    # A writer after the last kill runs to the end: the database took no lasting harm.
    log = workdir / "final.log"
    final = _start(options, workdir, log, index=0, ops=options.final_ops)
    if final.wait(timeout=START_TIMEOUT + options.final_ops) != 0:
        problems.append(f"the final writer exited with status {final.returncode}")
    step = _read_log(log)
    acks.extend(step["acks"])
    problems.extend(f"final writer: {problem}" for problem in step["unexpected"])
    if step["operations"] != options.final_ops:
        problems.append(f"the final writer did {step['operations']} of {options.final_ops} operations")
    checked = load.check_database(acks, registrations)
    checks += 1
    final_problems = load.database_ok(checked)
    if checked["events"] - registrations - len(acks) != unacknowledged_before:
        final_problems.append("the final writer's events do not match its acknowledgements")
    whole += not final_problems
    problems.extend(f"final: {problem}" for problem in final_problems)
    subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return {
        "database": vendor,
        "trials": options.trials,
        "writers_per_trial": options.writers,
        "kills": kills,
        "kills_in_flight": in_flight_total,
        "acknowledged": len(acks),
        "committed_unacknowledged": unacknowledged_before,
        "checks": checks,
        "verified_ok": whole,
        "final": checked,
        "machine": machine(),
        "problems": problems,
    }


def _start(options, workdir: Path, log: Path, *, index: int, ops: int = 0) -> subprocess.Popen:
    command = [sys.executable, __file__, "--writer", str(index), "--workdir", str(workdir), "--log", str(log)]
    return subprocess.Popen([*command, f"--ops={ops}", f"--seed={options.seed}"])


def _wait_for_first_commit(writers: list[subprocess.Popen], logs: list[Path]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if all(log.exists() and b"\nA " in b"\n" + log.read_bytes() for log in logs):
            return True
        if any(process.poll() is not None for process in writers):
            return False
        time.sleep(0.02)
    return False


def _read_log(log: Path) -> dict:
    """The writer's acknowledged operations, whether it died inside one, and anything unexpected."""
    acks, unexpected, operations, in_flight = [], [], 0, False
    if not log.exists():
        return {"acks": acks, "unexpected": unexpected, "operations": 0, "in_flight": False}
    for line in log.read_text().splitlines():
        tag, _, rest = line.partition(" ")
        in_flight = tag == "B"
        if tag == "A":
            acks.append(json.loads(rest))
        elif tag == "E":
            unexpected.append(rest)
        operations += tag in ("A", "R", "E")
    return {"acks": acks, "unexpected": unexpected, "operations": operations, "in_flight": in_flight}


def writer(options) -> None:
    """Issue, return, transfer in a loop (forever, or `--ops` times), logging each step before and after."""
    load.setup_django()
    world = json.loads((Path(options.workdir) / "world.json").read_text())
    operator = load.Operator(world, options.writer, options.seed, hot=4, hot_share=0.5, transfers=0.2)
    log = os.open(options.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    n = 0
    while not options.ops or n < options.ops:
        n += 1
        try:
            operation, item, member = operator.pick()
            os.write(log, f"B {operation} {item.pk}\n".encode())
            event = operator.perform(operation, item, member)
        except Exception as exc:  # an expected refusal, or a finding the parent reports
            verdict, what = load.classify(exc)
            line = f"R {what}" if verdict == "refused" else "E " + what.replace("\n", " ")
            os.write(log, f"{line}\n".encode())
            continue
        os.write(log, f"A {json.dumps(load.ack(event))}\n".encode())
    os.close(log)


if __name__ == "__main__":
    main()
