"""Crash trials over HTTP: SIGKILL the web server in the middle of a burst of issue and return requests, restart
it, again and again, and check that nothing acknowledged is lost.

    .venv/bin/python bench/crash_http.py [--postgres URL] [--trials 20] [--clients 4] [--seed 1] [--json]

Builds a throwaway database (custody_load.build_world: one armory with `--items` registered items, `--members`
active vetted members, one armorer account with an API token per client). Each trial starts gunicorn (2 sync
workers, in a process group of its own) on a free loopback port, and `--clients` threads send
POST /api/v1/custody/issue and /return as fast as the server answers (standard-library http.client, one connection
per request, `Authorization: Token <key>`), a few items contested on purpose. Each client writes every request to an
unbuffered log file before sending it ("B", with the time), and then what it learned: "A" a 2xx with the ledger
event's seq and hash, "R" an expected 409 refusal, "X" a broken connection, "E" anything else. Once every client has
had a 2xx, the trial waits a random delay and SIGKILLs the whole process group (master and workers) while requests
are in flight, then checks, with a fresh connection, as a restarted server would: `ledger.verify()` passes (hash
chain, ledger head = last event, replay equals the items table), every item has exactly one holder, every
acknowledged operation is in the ledger with the same seq and hash, every event nobody was told of is the operation
of a request that was in flight at the kill (same kind, item, receiver and armorer), and on SQLite
`PRAGMA integrity_check` says ok. The next trial restarts the server on the same database. After the last trial a
restarted server answers a bounded burst to the end, is stopped gracefully, and the database is checked once more.
Exit status 1 on any problem.

The handover PIN and two-factor sign-in are switched off for the run (neither is what is tested; the API is called
with tokens).
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import custody_load as load
from bench_http import free_port
from common import ROOT, database, machine

WORKERS = 2  # gunicorn sync workers per server
START_TIMEOUT = 90  # seconds for a server to start and every client to have its first 2xx
REQUEST_TIMEOUT = 30  # seconds a client waits for one answer (SIGKILL closes the sockets at once)
HOT_ITEMS, HOT_SHARE = 4, 0.5  # a few items every client keeps reaching for: deliberate conflicts
PATHS = {"issue": "/api/v1/custody/issue", "return": "/api/v1/custody/return"}
SERVER_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "muster.settings",
    "PYTHONPATH": str(ROOT / "src"),
    "MUSTER_DEBUG": "false",
    "MUSTER_REQUIRE_HANDOVER_PIN": "false",
    "MUSTER_REQUIRE_TOTP": "false",
    "MUSTER_LOGIN_THROTTLING": "false",
    "MUSTER_LOG_LEVEL": "WARNING",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a throwaway database on this server)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (threads)")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--min-delay", type=float, default=0.05, help="seconds after every client's first 2xx")
    parser.add_argument("--max-delay", type=float, default=1.5)
    parser.add_argument("--final-requests", type=int, default=25, help="per client, to the restarted server at the end")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line at the end")
    options = parser.parse_args()
    for name in ("trials", "clients", "items", "members", "final_requests"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= options.min_delay <= options.max_delay:
        parser.error("the delays must satisfy 0 ≤ --min-delay ≤ --max-delay")
    load.prepare_environment()
    started = time.perf_counter()
    with database(options.postgres):
        summary = run(options)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"crash trials over HTTP on {summary['database']}: {summary['trials']} trials, {summary['kills']} SIGKILLs of "
        f"the gunicorn process group ({summary['processes_killed']} processes, master and {WORKERS} workers each), "
        f"{summary['clients']} clients"
    )
    print(
        f"  requests: {summary['requests']:,} sent, {summary['acknowledged']:,} acknowledged (2xx), "
        f"{summary['refused']:,} refused (409), {summary['in_flight_at_kill']} in flight at a kill "
        f"({summary['kills_in_flight']} of {summary['kills']} kills landed with requests in flight), "
        f"{summary['sent_after_kill']} sent after a kill"
    )
    print(
        f"  committed but unacknowledged: {summary['committed_unacknowledged']} (each matched to a request in flight)"
    )
    print(
        f"  checks: {summary['checks_passed']}/{summary['checks']} whole; final: {summary['final']['verify']}; "
        f"{summary['final']['events']:,} events; SQLite integrity_check: {summary['final']['integrity_check']}"
    )
    print(f"  machine: {summary['machine']}; {summary['seconds']} s")
    print("RESULT: " + ("FAIL\n  " + "\n  ".join(summary["problems"]) if summary["problems"] else "PASS"))
    if options.json:
        print(json.dumps(summary))
    sys.exit(1 if summary["problems"] else 0)


def run(options) -> dict:
    from django.db import connection, connections

    vendor = connection.vendor
    world = build_world(options)
    registrations = len(world["items"])
    connections.close_all()  # the server's workers open their own
    workdir = Path(tempfile.mkdtemp(prefix="muster-crash-http-"))
    rng = random.Random(options.seed)
    beliefs: dict[int, str] = {}  # item id -> "armory" or "member", as the clients last learned it
    problems: list[str] = []
    acks: list[list] = []
    totals = dict.fromkeys(
        ["requests", "refused", "in_flight_at_kill", "sent_after_kill", "committed_unacknowledged", "kills",
         "processes_killed", "kills_in_flight", "checks", "checks_passed"], 0
    )  # fmt: skip
    last_seq = _last_seq()
    connections.close_all()
    for trial in range(1, options.trials + 1):
        logs = [workdir / f"trial-{trial}-client-{index}.log" for index in range(options.clients)]
        outcome = crash_trial(options, world, beliefs, logs, workdir / f"trial-{trial}-server.log", rng)
        requests = [request for log in logs for request in read_log(log)]
        judged = judge(requests, kill=outcome)
        acks.extend(judged["acks"])
        checked, matched, trial_problems = check(acks, registrations, last_seq, judged["in_flight"], world)
        last_seq = checked["last_seq"]
        trial_problems = outcome["problems"] + judged["problems"] + trial_problems
        totals["requests"] += len(requests)
        totals["refused"] += judged["refused"]
        totals["in_flight_at_kill"] += len(judged["in_flight"])
        totals["sent_after_kill"] += judged["sent_after_kill"]
        totals["committed_unacknowledged"] += matched
        totals["kills"] += outcome["sigkills"]
        totals["processes_killed"] += outcome["killed"]
        totals["kills_in_flight"] += bool(judged["in_flight"])
        totals["checks"] += 1
        totals["checks_passed"] += not trial_problems
        problems.extend(f"trial {trial}: {problem}" for problem in trial_problems)
        print(
            f"trial {trial:>3}: server up, every client's first 2xx in {outcome['ready'] or 0:.1f} s; killed "
            f"{outcome['killed']} processes {outcome['delay']:.2f} s later; {len(requests)} requests, "
            f"{len(judged['acks'])} acknowledged, {judged['refused']} refused, {len(judged['in_flight'])} in flight, "
            f"{matched} committed unacknowledged; "
            f"{'verify ok' if checked['verify_ok'] else 'VERIFY FAILED'}, {checked['events']} events, "
            f"integrity {checked['integrity_check']}" + (f" — {'; '.join(trial_problems)}" if trial_problems else ""),
            flush=True,
        )

    # After the last kill a restarted server answers a bounded burst to the end and stops gracefully.
    logs = [workdir / f"final-client-{index}.log" for index in range(options.clients)]
    final_problems = final_burst(options, world, beliefs, logs, workdir / "final-server.log", rng)
    requests = [request for log in logs for request in read_log(log)]
    judged = judge(requests, kill=None)
    acks.extend(judged["acks"])
    checked, matched, check_problems = check(acks, registrations, last_seq, [], world)
    final_problems += judged["problems"] + check_problems
    if len(requests) != options.clients * options.final_requests:
        final_problems.append(f"{len(requests)} of {options.clients * options.final_requests} requests were sent")
    totals["requests"] += len(requests)
    totals["refused"] += judged["refused"]
    totals["checks"] += 1
    totals["checks_passed"] += not final_problems
    problems.extend(f"final: {problem}" for problem in final_problems)
    print(
        f"final:     restarted server answered {len(requests)} requests ({len(judged['acks'])} acknowledged, "
        f"{judged['refused']} refused) and stopped gracefully; "
        f"{'verify ok' if checked['verify_ok'] else 'VERIFY FAILED'}, {checked['events']} events, "
        f"integrity {checked['integrity_check']}" + (f" — {'; '.join(final_problems)}" if final_problems else ""),
        flush=True,
    )
    if problems:
        print(f"  logs kept in {workdir}")
    else:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return {
        "database": vendor,
        "trials": options.trials,
        "clients": options.clients,
        "workers": WORKERS,
        **totals,
        "acknowledged": len(acks),
        "final_requests": len(requests),
        "final": checked,
        "machine": machine(),
        "problems": problems,
    }


def build_world(options) -> dict:
    """custody_load's world (one armorer account per client) plus an API token per armorer and the member numbers."""
    from rest_framework.authtoken.models import Token

    from muster.members.models import Member

    world = load.build_world(items=options.items, members=options.members, armorers=options.clients)
    world["tokens"] = [Token.objects.create(user_id=account).key for account in world["armorers"]]
    world["member_ids"] = dict(Member.objects.filter(pk__in=world["members"]).values_list("member_no", "pk"))
    return world


# --- the server -------------------------------------------------------------------------------------------------


def start_server(port: int, log: Path) -> subprocess.Popen:
    """gunicorn in a new session (so its own process group: the master and every worker), accepting on `port`."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "muster.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
               "--worker-class", "sync", "--graceful-timeout", "10", "--log-level", "warning"]  # fmt: skip
    with log.open("ab") as output:
        server = subprocess.Popen(
            command,
            env={**os.environ, **SERVER_ENVIRONMENT},
            cwd=ROOT,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode} on start:\n{_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.05)
    kill_group(server)
    raise RuntimeError(f"gunicorn did not accept connections within {START_TIMEOUT} s:\n{_tail(log)}")


def group_processes(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        state, _parent, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def kill_group(server: subprocess.Popen) -> list[str]:
    """SIGKILL the server's whole process group and wait until no process of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    return _wait_gone(server)


def _wait_gone(server: subprocess.Popen) -> list[str]:
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        return [f"the gunicorn master {server.pid} is still running 20 s later"]
    deadline = time.monotonic() + 20
    while group_processes(server.pid):
        if time.monotonic() > deadline:
            return [f"processes {group_processes(server.pid)} of the server's group are still running 20 s later"]
        time.sleep(0.02)
    return []


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:])


# --- the clients ------------------------------------------------------------------------------------------------


class Client(threading.Thread):
    """One armorer's HTTP client: issue or return, one request after another, until `stop` is set (or `limit`
    requests are sent), logging each request before it goes out and each answer after it came back."""

    def __init__(self, index: int, *, port: int, world: dict, beliefs: dict, log: Path, stop, seed: int, limit=0):
        super().__init__(name=f"client-{index}", daemon=True)
        self.index, self.port, self.beliefs, self.log, self.stop, self.limit = index, port, beliefs, log, stop, limit
        self.rng = random.Random(seed)
        self.items = world["items"]
        self.hot = self.items[:HOT_ITEMS]
        self.member_nos = sorted(world["member_ids"])
        self.actor = world["armorers"][index]
        self.headers = {"Content-Type": "application/json", "Authorization": f"Token {world['tokens'][index]}"}
        self.acknowledged = self.unexpected = 0

    def run(self) -> None:
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # unbuffered: each line a write(2)
        try:
            sent = 0
            while not self.stop.is_set() and (not self.limit or sent < self.limit):
                sent += 1
                self.request(log, f"{self.index}.{sent}")
        finally:
            os.close(log)

    def pick(self) -> tuple[str, int, str | None]:
        """(operation, item id, member number or None); a quarter of the time blind to what the item's state is."""
        rng = self.rng
        item = rng.choice(self.hot) if rng.random() < HOT_SHARE else rng.choice(self.items)
        issued = self.beliefs.get(item) == "member" if rng.random() < 0.75 else rng.random() < 0.5
        return ("return", item, None) if issued else ("issue", item, rng.choice(self.member_nos))

    def request(self, log: int, rid: str) -> None:
        operation, item, member_no = self.pick()
        payload = {"item": item, "reason": f"crash trial {rid}"} | ({"member": member_no} if member_no else {})
        _write(log, "B", rid, {"t": time.monotonic(), "op": operation, "item": item, "member": member_no,
                               "actor": self.actor})  # fmt: skip
        try:
            status, text = self.post(PATHS[operation], json.dumps(payload))
        except (OSError, http.client.HTTPException) as exc:  # the server died under it (or a finding)
            _write(log, "X", rid, {"t": time.monotonic(), "error": f"{type(exc).__name__}: {exc}"})
            return
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if 200 <= status < 300 and isinstance(body, dict):
            try:
                ack = [body["seq"], body["hash"], body["kind"], body["item"]["id"], body["to"]]
            except (KeyError, TypeError):
                ack = None
            if ack is None or ack[2] != operation or ack[3] != item:
                _write(log, "E", rid, {"status": status, "body": text[:300], "why": "not the requested operation"})
                self.unexpected += 1
                return
            _write(log, "A", rid, ack)
            self.beliefs[item] = "member" if operation == "issue" else "armory"
            self.acknowledged += 1
        elif status == 409 and isinstance(body, dict) and body.get("code") in load.EXPECTED_CODES:
            _write(log, "R", rid, body["code"])
            if body["code"] in ("item_not_in_armory", "item_not_issued"):
                self.beliefs[item] = "member" if body["code"] == "item_not_in_armory" else "armory"
        else:
            _write(log, "E", rid, {"status": status, "body": text[:300]})
            self.unexpected += 1

    def post(self, path: str, body: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("POST", path, body=body.encode(), headers=self.headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()


def _write(log: int, tag: str, rid: str, data) -> None:
    os.write(log, f"{tag} {rid} {json.dumps(data)}\n".encode())


def start_clients(options, world, beliefs, logs, port, stop, rng, limit=0) -> list[Client]:
    clients = [
        Client(index, port=port, world=world, beliefs=beliefs, log=log, stop=stop, seed=rng.randrange(2**32),
               limit=limit)
        for index, log in enumerate(logs)
    ]  # fmt: skip
    for client in clients:
        client.start()
    return clients


def read_log(log: Path) -> list[dict]:
    """Every request of a client's log: when it was sent, what it asked, and its outcome (None: no answer)."""
    requests: dict[str, dict] = {}
    if not log.exists():
        return []
    for line in log.read_text().splitlines():
        tag, rid, data = line.split(" ", 2)
        data = json.loads(data)
        if tag == "B":
            fields = {name: data[name] for name in ("op", "item", "member", "actor")}
            requests[rid] = {"rid": rid, "sent": data["t"], **fields, "outcome": None, "answer": None}
        else:
            requests[rid].update(outcome=tag, answer=data)
    return list(requests.values())


# --- one trial --------------------------------------------------------------------------------------------------


def crash_trial(options, world, beliefs, logs, server_log, rng) -> dict:
    """Start the server and the clients, wait for every client's first 2xx and a random delay, SIGKILL the server's
    process group while requests are in flight, and wait for the clients to notice."""
    delay = rng.uniform(options.min_delay, options.max_delay)
    port = free_port()
    stop = threading.Event()
    started = time.monotonic()
    server = start_server(port, server_log)
    clients = start_clients(options, world, beliefs, logs, port, stop, rng)
    problems, killed, sigkills, kill_started, killed_at, ready = [], 0, 0, None, None, None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(client.acknowledged for client in clients) and time.monotonic() < deadline:
            if server.poll() is not None or any(client.unexpected for client in clients):
                break  # reported below: no point waiting for a server that fails
            time.sleep(0.01)
        if all(client.acknowledged for client in clients):
            ready = time.monotonic() - started
            time.sleep(delay)
        elif not any(client.unexpected for client in clients):
            problems.append(f"not every client had a 2xx within {START_TIMEOUT} s of the server's start")
        if server.poll() is not None:
            problems.append(f"the server ended by itself with status {server.returncode}:\n{_tail(server_log)}")
        killed = len(group_processes(server.pid))
        if killed != 1 + WORKERS:
            problems.append(f"{killed} processes in the server's group at the kill, not master + {WORKERS} workers")
        stop.set()  # no new requests; those already sent stay in flight
        kill_started = time.monotonic()
        try:
            os.killpg(server.pid, signal.SIGKILL)
            sigkills = 1
        except ProcessLookupError:
            problems.append("the server's process group was gone before the kill")
        killed_at = time.monotonic()
    finally:
        stop.set()
        problems += kill_group(server)
        for client in clients:
            client.join(timeout=REQUEST_TIMEOUT + 10)
            if client.is_alive():
                problems.append(f"{client.name} still waits for an answer {REQUEST_TIMEOUT + 10} s after the kill")
    if server.returncode != -signal.SIGKILL:
        problems.append(f"the gunicorn master ended with status {server.returncode}, not by SIGKILL")
    return {"delay": delay, "ready": ready, "sigkills": sigkills, "killed": killed, "kill_started": kill_started,
            "killed_at": killed_at, "problems": problems}  # fmt: skip


def final_burst(options, world, beliefs, logs, server_log, rng) -> list[str]:
    """A restarted server answers `--final-requests` per client to the end, then stops on SIGTERM."""
    port = free_port()
    stop = threading.Event()
    server = start_server(port, server_log)
    problems = []
    try:
        clients = start_clients(options, world, beliefs, logs, port, stop, rng, limit=options.final_requests)
        for client in clients:
            client.join(timeout=START_TIMEOUT + options.final_requests * REQUEST_TIMEOUT)
            if client.is_alive():
                problems.append(f"{client.name} did not finish its {options.final_requests} requests")
                stop.set()
    finally:
        stop.set()
        if server.poll() is None:
            server.terminate()  # gunicorn's graceful stop
        problems += _wait_gone(server)
    if server.returncode != 0:
        problems.append(f"gunicorn exited with status {server.returncode} on SIGTERM:\n{_tail(server_log)}")
    return problems


def judge(requests: list[dict], *, kill: dict | None) -> dict:
    """Sort a trial's requests by what their clients learned. `kill`: the times around the SIGKILL, or None for a
    run without one (then every request must have had its answer)."""
    acks = [request["answer"] for request in requests if request["outcome"] == "A"]
    refused = sum(request["outcome"] == "R" for request in requests)
    problems = [
        f"request {request['rid']} ({request['op']} item {request['item']}) answered {request['answer']}"
        for request in requests
        if request["outcome"] == "E"
    ]
    unknown = [request for request in requests if request["outcome"] in (None, "X")]
    in_flight, sent_after_kill = [], 0
    for request in unknown:
        if kill is None or kill["killed_at"] is None:
            problems.append(f"request {request['rid']} had no answer: {request['answer']}")
        elif request["outcome"] == "X" and request["answer"]["t"] < kill["kill_started"]:
            problems.append(f"request {request['rid']} lost its connection before the kill: {request['answer']}")
        elif request["sent"] <= kill["killed_at"]:
            in_flight.append(request)
        else:
            sent_after_kill += 1  # sent when every server process was already dead: it cannot have committed
    return {"acks": acks, "refused": refused, "in_flight": in_flight, "sent_after_kill": sent_after_kill,
            "problems": problems}  # fmt: skip


def check(acks: list[list], registrations: int, last_seq: int, in_flight: list[dict], world: dict):
    """custody_load's post-mortem (verify, one holder per item, every ack in the ledger as acknowledged, SQLite
    integrity), then every new event nobody was told of matched to its own request in flight at the kill.
    Returns (the check's figures with last_seq, events matched, problems)."""
    from django.db import connections

    checked = load.check_database(acks, registrations)  # closes every connection first: a fresh one
    problems = load.database_ok(checked)
    acknowledged = {ack[0] for ack in acks}
    candidates = list(in_flight)
    matched = 0
    for seq, kind, item, to_ref, actor in _events_after(last_seq):
        if seq in acknowledged:
            continue
        for request in candidates:
            expected = f"member:{world['member_ids'].get(request['member'])}" if request["op"] == "issue" else None
            expected = expected or load.holder_ref("armory", world["armory"], None)
            if (request["op"], request["item"], expected, request["actor"]) == (kind, item, to_ref, actor):
                candidates.remove(request)
                matched += 1
                break
        else:
            problems.append(
                f"ledger event {seq} ({kind} of item {item} to {to_ref} by account {actor}) was acknowledged to "
                "nobody and matches no request in flight at the kill"
            )
    checked["last_seq"] = _last_seq()
    connections.close_all()  # the next server starts with no connection of ours open
    return checked, matched, problems


def _events_after(seq: int) -> list[tuple]:
    from muster.custody.models import LedgerEvent

    rows = LedgerEvent.objects.filter(seq__gt=seq).order_by("seq")
    return [
        (seq, kind, item, load.holder_ref(to_kind, to_armory, to_member), actor)
        for seq, kind, item, to_kind, to_armory, to_member, actor in rows.values_list(
            "seq", "kind", "item_id", "to_kind", "to_armory_id", "to_member_id", "actor_id"
        )
    ]


def _last_seq() -> int:
    from muster.custody.models import LedgerEvent

    return LedgerEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


if __name__ == "__main__":
    main()
