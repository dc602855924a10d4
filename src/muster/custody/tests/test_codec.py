"""The fast ledger codec spells every event exactly as the specification's encoding does."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muster.custody import codec, ledger

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
refs = st.sampled_from(["armory", "member"]).flatmap(lambda kind: st.integers(1, 10**9).map(lambda n: f"{kind}:{n}"))


@settings(max_examples=400, deadline=None)
@given(
    seq=st.integers(1, 10**12),
    recorded=times,
    kind=st.text(max_size=10),
    item=st.integers(1, 10**9),
    version=st.integers(1, 10**6),
    from_ref=st.none() | refs,
    to_ref=refs,
    actor=st.integers(1, 10**9),
    reason=st.text(max_size=40),
    due=st.none() | times,
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_fast_encoding_equals_the_specified_encoding(
    seq, recorded, kind, item, version, from_ref, to_ref, actor, reason, due, data, prev
):
    specified = ledger.canonical_bytes(
        ledger.event_fields(
            seq=seq,
            recorded_at=recorded,
            kind=kind,
            item_id=item,
            item_version=version,
            from_ref=from_ref,
            to_ref=to_ref,
            actor_id=actor,
            reason=reason,
            due_at=due,
            data=data,
            prev_hash=prev,
        )
    )
    fast = codec.encode(
        seq,
        codec.time_text(recorded),
        kind,
        item,
        version,
        from_ref,
        to_ref,
        actor,
        reason,
        codec.time_text(due),
        codec.data_text(data),
        prev,
    )
    assert fast == specified


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(1, 10**12),
    recorded=times,
    kind=st.sampled_from(["lot_receive", "lot_issue", "lot_return", "lot_expend", "lot_loss", "lot_recover"]),
    lot=st.integers(1, 10**9),
    quantity=st.integers(1, 10**7),
    version=st.integers(1, 10**6),
    from_ref=st.none() | refs,
    to_ref=st.none() | refs,
    reason=st.text(max_size=40),
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
def test_fast_encoding_of_lot_events_equals_the_specified_encoding(
    seq, recorded, kind, lot, quantity, version, from_ref, to_ref, reason, data
):
    prev = "ab" * 32
    specified = ledger.canonical_bytes(
        ledger.event_fields(
            seq=seq, recorded_at=recorded, kind=kind, item_id=None, item_version=version, from_ref=from_ref,
            to_ref=to_ref, actor_id=7, reason=reason, due_at=None, data=data, prev_hash=prev, lot_id=lot,
            quantity=quantity,
        )
    )  # fmt: skip
    fast = codec.encode(
        seq, codec.time_text(recorded), kind, None, version, from_ref, to_ref, 7, reason, None,
        codec.data_text(data), prev, lot, quantity,
    )  # fmt: skip
    assert fast == specified
    assert b'"lot":' in fast and b'"quantity":' in fast


def test_an_item_events_encoding_has_no_lot_keys():
    fields = ledger.event_fields(
        seq=1, recorded_at=datetime(2026, 1, 1, tzinfo=UTC), kind="register", item_id=3, item_version=1,
        from_ref=None, to_ref="armory:1", actor_id=1, reason="", due_at=None, data={}, prev_hash="0" * 64,
    )  # fmt: skip
    assert "lot" not in fields and "quantity" not in fields


@pytest.mark.parametrize(
    ("stored", "canonical"),
    [
        ("2026-11-25 02:23:22.123456", "2026-11-25T02:23:22.123456Z"),
        ("2026-11-25 02:23:22", "2026-11-25T02:23:22.000000Z"),
        ("2026-11-25 02:23:22.000001+00:00", "2026-11-25T02:23:22.000001Z"),
        (datetime(2026, 11, 25, 2, 23, 22, tzinfo=UTC), "2026-11-25T02:23:22.000000Z"),
        (
            datetime(2026, 11, 25, 4, 23, 22, 5, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Kyiv")),
            "2026-11-25T04:23:22.000005Z",
        ),
    ],
)
def test_stored_times_read_back_canonically(stored, canonical):
    assert codec.time_text(stored) == canonical
    assert codec.time_text(None) is None
