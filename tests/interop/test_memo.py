"""The decision memo: identical inputs reuse the engine's answer, anything else recomputes."""

from __future__ import annotations

from datetime import date
from typing import Any

from inoplan.interop.memo import DecisionMemo


def test_identical_inputs_hit_and_changed_inputs_miss() -> None:
    calls: list[tuple[str, date]] = []

    def decide(document: dict[str, Any], on: date) -> dict[str, Any]:
        calls.append((document["patient"]["id"], on))
        return {"status": "give", "reasons": [{"rule": "r"}]}

    memo = DecisionMemo(decide, size=2)
    doc = {"patient": {"id": "A"}, "events": [{"date": "2027-03-01", "weight_kg": 70}]}
    first = memo(doc, date(2027, 3, 1))
    first["status"] = "tampered"  # callers get copies
    assert memo({**doc}, date(2027, 3, 1))["status"] == "give"
    assert memo(doc, date(2027, 3, 2))["status"] == "give"  # another day: recomputed
    changed = {"patient": {"id": "A"}, "events": [{"date": "2027-03-01", "weight_kg": 71}]}
    memo(changed, date(2027, 3, 1))
    assert len(calls) == 3 and (memo.hits, memo.misses) == (1, 3)
    memo(doc, date(2027, 3, 1))  # evicted (size 2): recomputed
    assert len(calls) == 4


def test_a_different_policy_is_a_different_key() -> None:
    memo_a = DecisionMemo(lambda d, on: {}, salt="policy-a")
    memo_b = DecisionMemo(lambda d, on: {}, salt="policy-b")
    doc = {"patient": {"id": "A"}}
    assert memo_a.key(doc, date(2027, 3, 1)) != memo_b.key(doc, date(2027, 3, 1))


def test_values_orjson_cannot_take_still_make_a_key_and_come_back_as_json() -> None:
    from decimal import Decimal

    memo = DecisionMemo(
        lambda document, on: {"on": on, "dose": Decimal("1.46"), "n": document["n"]}, size=4
    )
    huge = {"n": 2**70, "when": date(2027, 3, 1)}  # beyond orjson's 64-bit integers
    assert memo.key(huge, date(2027, 3, 1)) == memo.key(dict(huge), date(2027, 3, 1))
    assert memo.key(huge, date(2027, 3, 1)) != memo.key({**huge, "n": 2**70 + 1}, date(2027, 3, 1))
    small = {"n": 3}
    first = memo(small, date(2027, 3, 1))
    assert first == {"on": date(2027, 3, 1), "dose": Decimal("1.46"), "n": 3}  # the fresh answer
    # the reused answer is its JSON, as the stdlib's default=str gives it
    assert memo(small, date(2027, 3, 1)) == {"on": "2027-03-01", "dose": "1.46", "n": 3}
