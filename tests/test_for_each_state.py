"""for_each_state (SPEC §11): one call per state on a thread pool, each in its own state."""

from __future__ import annotations

import contextvars
import logging
import threading

import pytest

from aws_helper_sync import (
    InvalidStateError,
    Repository,
    StateRunError,
    StateRunResults,
    for_each_state,
    get_state,
    set_state,
    state_scope,
)

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class Runs(Repository):
    collection_name = "nightly_runs"


RUNS = Runs()


def test_ten_states_one_failing(mongo_client, make_state):
    states = [make_state(f"s{i}") for i in range(10)]
    failing = states[6]
    seen: dict[str, str | None] = {}
    lock = threading.Lock()

    def nightly(state: str) -> str:
        current = get_state()
        with lock:
            seen[state] = current
        if state == failing:
            raise ValueError(f"bad data in {state}")
        RUNS.collection.insert_one({"state": current})
        set_state(make_state("polluted"))  # must not reach the next call on this worker
        return current

    with state_scope(make_state("caller")):
        outcome = for_each_state(states, nightly, max_workers=3)  # workers are reused
        assert get_state() == make_state("caller")

    assert seen == {state: state for state in states}
    assert outcome.results == {state: state for state in states if state != failing}
    assert list(outcome.results) == [s for s in states if s != failing]  # input order
    assert list(outcome.errors) == [failing]
    assert isinstance(outcome.errors[failing], ValueError)
    assert not outcome.ok
    for state in states:
        collection = mongo_client[state][Runs.collection_name]
        assert collection.count_documents({}) == (0 if state == failing else 1)
        assert collection.count_documents({"state": {"$ne": state}}) == 0
    assert get_state() is None


def test_raise_for_errors_names_every_failed_state(caplog):
    def fn(state: str) -> int:
        if state != "ohio":
            raise RuntimeError(f"{state} is down")
        return 1

    with caplog.at_level(logging.ERROR, logger="aws_helper_sync.scripts"):
        outcome = for_each_state(["ohio", "texas", "utah"], fn)

    with pytest.raises(StateRunError) as info:
        outcome.raise_for_errors()
    assert str(info.value) == (
        "2 of 3 states failed: texas: RuntimeError: texas is down; utah: RuntimeError: utah is down"
    )
    assert info.value.results == {"ohio": 1}
    assert set(info.value.errors) == {"texas", "utah"}
    assert sorted(r.getMessage() for r in caplog.records) == [
        "for_each_state: texas failed", "for_each_state: utah failed",
    ]


def test_all_succeeding_is_ok():
    outcome = for_each_state(["ohio", "texas"], str.upper)
    assert outcome == StateRunResults(results={"ohio": "OHIO", "texas": "TEXAS"}, errors={})
    assert outcome.ok
    outcome.raise_for_errors()  # nothing to raise


def test_calls_run_concurrently_on_the_pool():
    barrier = threading.Barrier(3, timeout=30)  # passes only if all three calls run at once

    def meet(state: str) -> str:
        barrier.wait()
        return threading.current_thread().name

    outcome = for_each_state(["ohio", "texas", "utah"], meet)

    assert outcome.ok
    assert len(set(outcome.results.values())) == 3


def test_calls_see_the_callers_other_context_variables():
    token = request_id.set("job-42")
    try:
        outcome = for_each_state(["ohio", "texas"], lambda state: (request_id.get(), get_state()))
    finally:
        request_id.reset(token)
    assert outcome.results == {"ohio": ("job-42", "ohio"), "texas": ("job-42", "texas")}


@pytest.mark.parametrize(
    ("states", "error", "match"),
    [
        (["ohio", "admin", "New Jersey"], InvalidStateError, "'admin'.*'New Jersey'"),
        (["ohio", "texas", "ohio"], ValueError, "more than once: ohio"),
        ([None], InvalidStateError, "must be a string"),
    ],
)
def test_states_are_checked_before_any_call(states, error, match):
    calls = []
    with pytest.raises(error, match=match):
        for_each_state(states, calls.append)
    assert calls == []


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError, match="max_workers"):
        for_each_state(["ohio"], str, max_workers=0)


def test_no_states_no_calls():
    assert for_each_state([], str) == StateRunResults()


def test_a_bare_string_is_one_state_never_its_letters(mongo_client, make_state):
    """Issue 11 §9: for_each_state("texas", fn) once ran in databases t, e, x, a, s."""
    state = make_state("texas")
    before = set(mongo_client.list_database_names())
    outcome = for_each_state(state, lambda s: RUNS.collection.insert_one({"state": get_state()}) and get_state())
    assert list(outcome.results) == [state] and outcome.results[state] == state
    assert set(mongo_client.list_database_names()) - before == {state}
    assert mongo_client[state][Runs.collection_name].count_documents({}) == 1


def test_states_outside_the_allow_list_are_refused_before_any_call(monkeypatch):
    from aws_helper_sync import UnknownStateError

    monkeypatch.setenv("ALLOWED_STATES", "ohio,texas")
    ran = []
    with pytest.raises(UnknownStateError, match="'utah'.*ALLOWED_STATES"):
        for_each_state(["ohio", "utah"], ran.append)
    with pytest.raises(InvalidStateError, match="'Utah'"):  # a misspelling stays the plain error
        for_each_state(["utah", "Utah"], ran.append)
    assert ran == []
    assert for_each_state("ohio", lambda s: get_state()).results == {"ohio": "ohio"}
