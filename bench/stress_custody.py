"""Custody under contention: N OS processes × M random issue/return/transfer operations against ONE database.

    .venv/bin/python bench/stress_custody.py [--postgres URL] [--processes 16] [--ops 20000] [--json]

Each process is a separate Python interpreter with its own connection, calling the service layer as the web and
API faces do. Workers pick items from a shared pool (200 by default; a quarter of the picks go to a few hot items
every worker reaches for), look at the item without a lock, choose the operation its state calls for (a quarter
of the time blind), and call the service, which locks the item and decides. Stale looks therefore race by design.

Afterwards, with a fresh connection: `ledger.verify()` passes (chain, head, replay equals the items table), every
item has exactly one holder, every acknowledged operation is in the ledger with the hash it was acknowledged with,
events = registrations + acknowledged operations, and no operation raised anything but an expected refusal
(custody_load.EXPECTED_CODES) — no "database is locked", no deadlock, no IntegrityError. Exit status 1 otherwise.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import custody_load as load
from common import database, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--ops", type=int, default=20_000, help="operations per process")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--hot", type=int, default=8, help="items every worker keeps reaching for")
    parser.add_argument("--hot-share", type=float, default=0.25)
    parser.add_argument("--transfers", type=float, default=0.3, help="share of issued items transferred, not returned")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds before hung workers are killed")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line at the end")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker is not None:
        worker(options)
        return
    load.prepare_environment()
    with database(options.postgres):
        summary = run(options)
    print_summary(summary)
    if options.json:
        print(json.dumps(summary))
    sys.exit(1 if summary["problems"] else 0)


def run(options) -> dict:
    from django.db import connection, connections

    vendor = connection.vendor
    world = load.build_world(items=options.items, members=options.members, armorers=options.processes)
    connections.close_all()  # the parent holds no connection (nor SQLite lock) while the workers run
    workdir = Path(tempfile.mkdtemp(prefix="muster-stress-"))
    load.write_json(workdir / "world.json", world)
    tuning = [f"--ops={options.ops}", f"--hot={options.hot}", f"--hot-share={options.hot_share}"]
    tuning += [f"--transfers={options.transfers}", f"--seed={options.seed}", f"--workdir={workdir}"]
    workers = [
        subprocess.Popen([sys.executable, __file__, f"--worker={index}", *tuning]) for index in range(options.processes)
    ]
    # Stopping the run (Ctrl-C, SIGTERM) stops its workers too, and the throwaway database is dropped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    try:
        problems = _supervise(workers, workdir, options)
    except BaseException:
        for w in workers:
            if w.poll() is None:
                w.kill()
        raise
    for index, w in enumerate(workers):
        if w.wait() != 0:
            problems.append(f"worker {index} exited with status {w.returncode}")

    outcomes, refusals, unexpected, samples, acks, latencies, spans = Counter(), Counter(), Counter(), [], [], [], []
    for index in range(options.processes):
        path = workdir / f"result-{index}.json"
        if not path.exists():
            problems.append(f"worker {index} wrote no result")
            continue
        result = json.loads(path.read_text())
        outcomes.update(result["outcomes"])
        refusals.update(result["refusals"])
        unexpected.update(result["unexpected"])
        samples.extend(result["samples"])
        acks.extend(result["acks"])
        latencies.extend(result["latencies"])
        spans.append((result["started"], result["finished"]))
    subprocess.run(["rm", "-rf", str(workdir)], check=False)

    checked = load.check_database(acks, registrations=len(world["items"]))
    successes = sum(outcomes.values())
    attempts = successes + sum(refusals.values()) + sum(unexpected.values())
    elapsed = (max(end for _, end in spans) - min(start for start, _ in spans)) if spans else 0.0
    if unexpected:
        problems.append(f"{sum(unexpected.values())} unexpected errors")
    if checked["events"] != checked["registrations"] + successes:
        problems.append(
            f"{checked['events']} ledger events, but {checked['registrations']} registrations + "
            f"{successes} acknowledged operations"
        )
    if attempts != options.processes * options.ops:
        problems.append(f"{attempts} operations accounted for, {options.processes * options.ops} attempted")
    problems.extend(load.database_ok(checked))
    latencies.sort()
    return {
        "database": vendor,
        "processes": options.processes,
        "ops_per_process": options.ops,
        "items": len(world["items"]),
        "hot_items": options.hot,
        "members": len(world["members"]),
        "attempts": attempts,
        "successes": successes,
        "outcomes": dict(outcomes),
        "refusals": dict(refusals),
        "unexpected": sum(unexpected.values()),
        "unexpected_by_kind": dict(unexpected),
        "unexpected_samples": samples[:10],
        "elapsed_seconds": round(elapsed, 1),
        "ops_per_second": round(attempts / elapsed, 1) if elapsed else 0.0,
        "successes_per_second": round(successes / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {
            name: round(latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000, 1)
            for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        }
        if latencies
        else {},
        **checked,
        "machine": machine(),
        "problems": problems,
    }


def _progress(workdir: Path, index: int) -> int:
    try:
        return int((workdir / f"progress-{index}").read_text() or 0)
    except (OSError, ValueError):
        return 0


def worker(options) -> None:
    """One OS process: its own interpreter, its own connection, `--ops` operations, a result file at the end."""
    load.setup_django()
    workdir = Path(options.workdir)
    world = json.loads((workdir / "world.json").read_text())
    operator = load.Operator(
        world, options.worker, options.seed, hot=options.hot, hot_share=options.hot_share, transfers=options.transfers
    )
    (workdir / f"ready-{options.worker}").touch()
    while not (workdir / "go").exists():
        time.sleep(0.02)
    outcomes, refusals, unexpected, samples, acks, latencies = Counter(), Counter(), Counter(), [], [], []
    started = time.time()
    for n in range(options.ops):
        try:
            operation, item, member = operator.pick()
            began = time.perf_counter()
            event = operator.perform(operation, item, member)
        except Exception as exc:  # every exception is sorted: an expected refusal or a finding
            verdict, what = load.classify(exc)
            if verdict == "refused":
                refusals[what] += 1
            else:
                unexpected[what.split(":")[0]] += 1
                if len(samples) < 5:
                    samples.append(f"worker {options.worker}, op {n}: {what}")
            continue
        latencies.append(time.perf_counter() - began)
        outcomes[operation] += 1
        acks.append(load.ack(event))
        if n % 100 == 99:
            (workdir / f"progress-{options.worker}").write_text(str(n + 1))
    finished = time.time()
    load.write_json(
        workdir / f"result-{options.worker}.json",
        {
            "outcomes": outcomes,
            "refusals": refusals,
            "unexpected": unexpected,
            "samples": samples,
            "acks": acks,
            "latencies": [round(value, 5) for value in latencies],
            "started": started,
            "finished": finished,
        },
    )


def _supervise(workers, workdir: Path, options) -> list[str]:
    """Start the workers together, wait for them, print progress every 30 s; the problems seen."""
    problems = []
    deadline = time.monotonic() + options.timeout
    # Start every worker's operations at once, after all have paid for Django's start-up.
    while not all((workdir / f"ready-{i}").exists() for i in range(options.processes)):
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            problems.append("a worker died before it was ready")
            break
        time.sleep(0.1)
    (workdir / "go").touch()
    started = time.monotonic()
    last_report = started
    while any(w.poll() is None for w in workers):
        if time.monotonic() > deadline:
            for w in workers:
                if w.poll() is None:
                    w.kill()
            problems.append(f"workers still running after {options.timeout:.0f} s were killed")
            break
        time.sleep(0.5)
        if time.monotonic() - last_report >= 30:
            last_report = time.monotonic()
            done = sum(_progress(workdir, i) for i in range(options.processes))
            print(
                f"  … {done:,} / {options.processes * options.ops:,} operations, "
                f"{done / (last_report - started):,.0f} ops/s",
                flush=True,
            )
    return problems


def print_summary(s: dict) -> None:
    print(
        f"custody stress on {s['database']}: {s['processes']} processes × {s['ops_per_process']:,} operations over "
        f"{s['items']} items ({s['hot_items']} hot), {s['members']} members"
    )
    print(
        f"  elapsed:     {s['elapsed_seconds']:,.1f} s; {s['ops_per_second']:,.0f} ops/s attempted, "
        f"{s['successes_per_second']:,.0f} ops/s acknowledged"
    )
    print(f"  acknowledged: {s['successes']:,} ({load.count_lines(Counter(s['outcomes']))})")
    print(f"  refusals:    {sum(s['refusals'].values()):,} ({load.count_lines(Counter(s['refusals']))})")
    print(f"  unexpected:  {s['unexpected']:,} ({load.count_lines(Counter(s['unexpected_by_kind']))})")
    for sample in s["unexpected_samples"]:
        print(f"    {sample}")
    if s["latency_ms"]:
        print("  latency of acknowledged operations: " + ", ".join(f"{k} {v:,} ms" for k, v in s["latency_ms"].items()))
    print(
        f"  ledger:      {s['events']:,} events = {s['registrations']:,} registrations + {s['successes']:,} "
        f"acknowledged: {'yes' if s['events'] == s['registrations'] + s['successes'] else 'NO'}"
    )
    print(
        f"  acknowledged operations missing from the ledger: {s['missing_acks']}; "
        f"items without exactly one holder: {s['bad_holders']}; head matches chain: {s['head_matches_chain']}"
    )
    print(f"  verify:      {s['verify']} ({s['verify_seconds']} s)")
    print(f"  SQLite integrity_check: {s['integrity_check']}")
    print(f"  machine:     {s['machine']}")
    print("RESULT: " + ("FAIL\n  " + "\n  ".join(s["problems"]) if s["problems"] else "PASS"))


if __name__ == "__main__":
    main()
