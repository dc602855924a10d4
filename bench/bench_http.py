"""Issue over HTTP: the REST issue endpoint under load, against a bare Django JSON view in the same server.

    .venv/bin/python bench/bench_http.py [--postgres URL] [--seconds 15] [--clients 32] [--workers 2]

Builds a fresh database (`muster seed`: every item registered in its company's arms room), starts gunicorn with
`--workers` processes on loopback, and drives it with wrk (`apt-get install wrk`): first the bare view (the
reference: Django, the middleware and the WSGI server, nothing of Muster's), then POST /api/v1/custody/issue, each
request issuing a different item to an active, vetted member of the item's company. Prints requests per second,
p50 and p99 latency of each and the throughput ratio. Goals: ratio ≥ 50%, issue p99 < 50 ms.

The handover PIN and two-factor sign-in are switched off for the run: neither is on the path being measured (the
PIN check is a keyed hash per request; the API is called with a token).
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, database, machine

GOAL_RATIO, GOAL_P99_MS = 0.5, 50.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_data(items: int) -> tuple[str, list[tuple[int, str]]]:
    """Seed the database; return an API token and (item id, member no.) pairs that pass the issue gate."""
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from muster import seed
    from muster.custody.models import Item
    from muster.members.models import Account, Member

    seed.seed(members=max(1000, items // 10), items=items, events=items)
    token = Token.objects.create(user=Account.objects.get(username="seed")).key
    today = timezone.localdate()
    eligible: dict[int, list[str]] = {}
    for unit_id, member_no in Member.objects.filter(status="active", vetting_valid_until__gte=today).values_list(
        "unit_id", "member_no"
    ):
        eligible.setdefault(unit_id, []).append(member_no)
    pairs, turn = [], {}
    for item_id, unit_id in Item.objects.values_list("pk", "home_armory__unit_id").order_by("?"):
        members = eligible.get(unit_id)
        if members:
            turn[unit_id] = (turn.get(unit_id, -1) + 1) % len(members)
            pairs.append((item_id, members[turn[unit_id]]))
    return token, pairs


LUA = """
ITEMS = {%(items)s}
MEMBERS = {%(members)s}
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  nthreads = tonumber(args[1])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Token %(token)s"
end
function request()
  local i = id + counter * nthreads + 1
  counter = counter + 1
  if i > #ITEMS then i = ((i - 1) %% #ITEMS) + 1 end
  return wrk.format(nil, "/api/v1/custody/issue", nil, '{"item":' .. ITEMS[i] .. ',"member":"' .. MEMBERS[i] .. '"}')
end
"""


def run_wrk(url: str, seconds: int, clients: int, threads: int, script: Path | None = None) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if script:
        command += ["--", str(threads)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in output:
        raise RuntimeError(f"wrk printed no latency distribution:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {p: _ms(m) for p, m in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE)}
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's latency distribution:\n{output}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = int(re.search(r"(\d+) requests in", output).group(1))
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"], "failed": int(failed.group(1)) if failed else 0,
            "total": total, "raw": output}  # fmt: skip


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def serve(port: int, workers: int, worker_class: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="http_site.settings",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT / "src")]),
        MUSTER_DEBUG="false",
        MUSTER_REQUIRE_HANDOVER_PIN="false",
        MUSTER_REQUIRE_TOTP="false",
        MUSTER_LOGIN_THROTTLING="false",
        MUSTER_LOG_LEVEL="WARNING",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "muster.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--worker-class", worker_class, "--log-level", "warning"]  # fmt: skip
    if worker_class == "gthread":
        command += ["--threads", "4"]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a throwaway database on this server)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--items", type=int, default=40_000, help="enough for every request to issue a new item")
    options = parser.parse_args()
    threads = min(4, options.clients)
    with database(options.postgres):
        token, pairs = build_data(options.items)
        from django.db import connections

        connections.close_all()  # the server's workers open their own
        script = Path(tempfile.mkdtemp()) / "issue.lua"
        items, members = ",".join(str(i) for i, _ in pairs), ",".join(f'"{m}"' for _, m in pairs)
        script.write_text(LUA % {"items": items, "members": members, "token": token})
        port = free_port()
        server = serve(port, options.workers, options.worker_class)
        try:
            base = f"http://127.0.0.1:{port}"
            run_wrk(f"{base}/bench-bare/", 2, options.clients, threads)  # warm up the workers
            bare = run_wrk(f"{base}/bench-bare/", options.seconds, options.clients, threads)
            issue = run_wrk(f"{base}/", options.seconds, options.clients, threads, script)
        finally:
            server.terminate()
            server.wait(timeout=20)
    if issue["total"] > len(pairs) or issue["failed"]:
        print(issue["raw"])
        raise SystemExit(f"{issue['failed']} issue requests failed (or ran out of items: raise --items)")
    backend = "PostgreSQL" if options.postgres else "SQLite"
    ratio = issue["rps"] / bare["rps"]
    print(f"issue over HTTP, {backend}, gunicorn {options.workers} {options.worker_class} workers, "
          f"{options.clients} clients, {options.seconds} s")  # fmt: skip
    print(f"  figure:    {issue['rps']:.0f} issues/s, p50 {issue['p50']:.1f} ms, p99 {issue['p99']:.1f} ms")
    print(f"  reference: {bare['rps']:.0f} bare requests/s, p50 {bare['p50']:.1f} ms, p99 {bare['p99']:.1f} ms")
    print(f"  ratio:     {ratio:.1%}  (goal ≥ {GOAL_RATIO:.0%}; issue p99 goal < {GOAL_P99_MS:.0f} ms)")
    print(f"  machine:   {machine()}")


if __name__ == "__main__":
    main()
