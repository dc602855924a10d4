"""The crash trials over HTTP of bench/crash_http.py at CI size: gunicorn (master and 2 workers) SIGKILLed in the
middle of a burst of issue and return requests, 3 times, on SQLite (and PostgreSQL when DATABASE_URL names one);
after every kill nothing acknowledged is lost, every event nobody was told of was a request in flight, and a
restarted server carries on. Also: the post-mortem check itself catches a lost acknowledgement and an event that no
request in flight explains.

The full run is `bench/crash_http.py` (20 trials; `--postgres URL` for PostgreSQL), its figures for
docs/reliability.md.
"""

import sys
from types import SimpleNamespace

import pytest
from django.db import connections

from muster.custody.tests.bench_runs import BENCH, DATABASES, run_bench

TRIALS, CLIENTS, FINAL_REQUESTS = 3, 4, 10


@pytest.mark.parametrize("database", DATABASES)
def test_it_loses_nothing_acknowledged_when_the_server_is_killed_in_the_middle_of_http_issues(database):
    status, summary, output = run_bench(
        "crash_http.py", database, "--trials", str(TRIALS), "--clients", str(CLIENTS), "--max-delay", "0.8",
        "--final-requests", str(FINAL_REQUESTS),
    )  # fmt: skip

    assert status == 0, output
    assert summary["problems"] == []
    assert summary["database"] == database
    assert summary["kills"] == TRIALS
    assert summary["processes_killed"] == TRIALS * (1 + summary["workers"]) == TRIALS * 3  # master and 2 workers
    assert summary["kills_in_flight"] >= 1, "no kill landed while requests were in flight"
    assert summary["in_flight_at_kill"] >= summary["kills_in_flight"]
    assert summary["acknowledged"] > 0
    assert summary["final_requests"] == CLIENTS * FINAL_REQUESTS
    # Every request is accounted for: answered 2xx, refused with an expected 409, or in flight at a kill.
    assert summary["requests"] == (
        summary["acknowledged"] + summary["refused"] + summary["in_flight_at_kill"] + summary["sent_after_kill"]
    )
    assert 0 <= summary["committed_unacknowledged"] <= summary["in_flight_at_kill"]
    assert summary["checks"] == summary["checks_passed"] == TRIALS + 1  # after each kill, and after the final burst
    final = summary["final"]
    assert final["verify_ok"], final["verify"]
    assert final["missing_acks"] == 0
    assert final["duplicate_ack_seqs"] == 0
    assert final["bad_holders"] == 0
    assert final["head_matches_chain"]
    assert final["events"] == final["registrations"] + summary["acknowledged"] + summary["committed_unacknowledged"]
    assert final["integrity_check"] == ("ok" if database == "sqlite" else "n/a")


@pytest.fixture
def crash_http():
    sys.path.insert(0, str(BENCH))
    try:
        import crash_http

        yield crash_http
    finally:
        sys.path.remove(str(BENCH))


def test_it_counts_a_request_without_answer_as_in_flight_only_when_it_was_sent_before_the_kill(crash_http):
    def request(rid, sent, outcome, answer):
        return {"rid": rid, "sent": sent, "op": "issue", "item": 1, "member": "M1", "actor": 1, "outcome": outcome,
                "answer": answer}  # fmt: skip

    kill = {"kill_started": 10.0, "killed_at": 10.001}
    judged = crash_http.judge(
        [
            request("0.1", 9.0, "A", [5, "h", "issue", 1, "member:1"]),
            request("0.2", 9.5, "R", "item_not_in_armory"),
            request("0.3", 9.9, "X", {"t": 10.002, "error": "RemoteDisconnected"}),
            request("1.1", 9.95, None, None),
            request("1.2", 10.5, "X", {"t": 10.6, "error": "ConnectionRefusedError"}),
        ],
        kill=kill,
    )

    assert judged["acks"] == [[5, "h", "issue", 1, "member:1"]]
    assert judged["refused"] == 1
    assert [r["rid"] for r in judged["in_flight"]] == ["0.3", "1.1"]
    assert judged["sent_after_kill"] == 1
    assert judged["problems"] == []

    early = crash_http.judge([request("0.1", 5.0, "X", {"t": 6.0, "error": "ConnectionResetError"})], kill=kill)
    assert early["in_flight"] == []
    assert early["problems"] == [
        "request 0.1 lost its connection before the kill: {'t': 6.0, 'error': 'ConnectionResetError'}"
    ]
    unanswered = crash_http.judge([request("0.1", 5.0, "X", {"t": 6.0, "error": "x"})], kill=None)
    assert unanswered["problems"] == ["request 0.1 had no answer: {'t': 6.0, 'error': 'x'}"]
    answered_500 = crash_http.judge([request("0.1", 5.0, "E", {"status": 500, "body": ""})], kill=None)
    assert answered_500["problems"] == ["request 0.1 (issue item 1) answered {'status': 500, 'body': ''}"]


def test_it_reports_a_lost_acknowledgement_and_an_event_no_request_in_flight_explains(crash_http, purged_ledger):
    from muster.custody import services
    from muster.custody.models import Item, LedgerEvent
    from muster.members.models import Account, Member

    world = crash_http.build_world(SimpleNamespace(items=2, members=2, clients=1))
    registrations = len(world["items"])
    last_seq = crash_http._last_seq()
    member = Member.objects.get(pk=world["members"][0])
    item = Item.objects.get(pk=world["items"][0])
    event = services.issue(item=item, member=member, actor=Account.objects.get(pk=world["armorers"][0]))
    connections.close_all()

    # Nobody was told of the issue and no request was in flight: a problem.
    checked, matched, problems = crash_http.check([], registrations, last_seq, [], world)
    assert matched == 0
    assert problems == [
        f"ledger event {event.seq} (issue of item {item.pk} to member:{member.pk} by account {world['armorers'][0]})"
        " was acknowledged to nobody and matches no request in flight at the kill"
    ]
    assert checked["verify_ok"]
    assert checked["last_seq"] == event.seq

    # The same event with its request in flight at the kill: committed but unacknowledged, which is allowed.
    in_flight = {"rid": "0.1", "sent": 1.0, "op": "issue", "item": item.pk, "member": member.member_no,
                 "actor": world["armorers"][0], "outcome": "X", "answer": {"t": 2.0}}  # fmt: skip
    checked, matched, problems = crash_http.check([], registrations, last_seq, [in_flight], world)
    assert (matched, problems) == (1, [])

    # A request in flight for another member does not explain it.
    other = {**in_flight, "member": Member.objects.exclude(pk=member.pk).get().member_no}
    checked, matched, problems = crash_http.check([], registrations, last_seq, [other], world)
    assert matched == 0
    assert len(problems) == 1

    # An acknowledgement whose hash is not the ledger's is a lost operation.
    forged = [event.seq, "0" * 64, "issue", item.pk, f"member:{member.pk}"]
    checked, matched, problems = crash_http.check([forged], registrations, last_seq, [], world)
    assert checked["missing_acks"] == 1
    assert problems[0].startswith("1 acknowledged operations missing from the ledger")
    assert LedgerEvent.objects.count() == registrations + 1
