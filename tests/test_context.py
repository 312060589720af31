"""Constitution-state context: scope, validation, threads, logging."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aws_helper_sync import (
    ConfigurationError,
    InvalidStateError,
    UnknownStateError,
    get_state,
    set_state,
    state_scope,
)
from aws_helper_sync.context import (
    ContextThreadPoolExecutor,
    StateLogFilter,
    run_in_unit_context,
    set_allowed_states,
    submit_with_context,
    validate_state,
)

INVALID_STATES = [
    "admin", "local", "config", "Connecticut", "new jersey", "a.b", "../x", "$where",
    "", "a" * 64, "conn\u00e9cticut", "\u0430dmin", "_ohio", "1ohio", "ohio\n", "oh-io",
    "ohio\x00", " ohio",
]


def test_state_scope_restores_previous_value():
    set_state("ohio")
    with state_scope("texas"):
        assert get_state() == "texas"
    assert get_state() == "ohio"


def test_state_scope_restores_after_exception():
    with state_scope("ohio"):
        with pytest.raises(RuntimeError), state_scope("texas"):
            raise RuntimeError("boom")
        assert get_state() == "ohio"
    assert get_state() is None


def test_nested_scopes_unwind_in_order():
    seen = []
    with state_scope("a1"):
        seen.append(get_state())
        with state_scope("b2"):
            seen.append(get_state())
            with state_scope(None):
                seen.append(get_state())
            seen.append(get_state())
        seen.append(get_state())
    seen.append(get_state())
    assert seen == ["a1", "b2", None, "b2", "a1", None]


def test_set_state_none_clears():
    set_state("ohio")
    set_state(None)
    assert get_state() is None


@pytest.mark.parametrize("value", INVALID_STATES)
def test_invalid_states_are_rejected_everywhere(value):
    with pytest.raises(InvalidStateError):
        validate_state(value)
    with pytest.raises(InvalidStateError):
        set_state(value)
    with pytest.raises(InvalidStateError), state_scope(value):
        pass
    assert get_state() is None


@pytest.mark.parametrize("value", [123, b"ohio", ["ohio"]])
def test_non_string_states_are_rejected(value):
    with pytest.raises(InvalidStateError, match="must be a string"):
        set_state(value)


def test_invalid_state_error_is_a_value_error_and_does_not_echo_huge_values():
    with pytest.raises(ValueError) as info:
        validate_state("X" * 10_000)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("value", ["connecticut", "new_jersey", "a", "a" * 63, "district9"])
def test_valid_states_pass_unchanged(value):
    assert validate_state(value) == value


def test_allow_list_from_environment(monkeypatch):
    monkeypatch.setenv("ALLOWED_STATES", "ohio, texas")
    assert validate_state("ohio") == "ohio"
    with pytest.raises(InvalidStateError, match="ALLOWED_STATES"):
        validate_state("utah")


@pytest.mark.parametrize(("raw", "bad"), [
    ("ohio, Texas", "'Texas'"), (" , ", "empty entry"), ("ohio,,texas", "empty entry"),
    ("ohio,admin", "'admin'"), ("ohio;texas", "'ohio;texas'"), ("ohio,new jersey", "'new jersey'"),
])
def test_every_allowed_states_entry_is_checked_when_read(monkeypatch, raw, bad):
    """Issue 11 §9: "ohio, Texas" once allowed only ohio, silently."""
    monkeypatch.setenv("ALLOWED_STATES", raw)
    with pytest.raises(ConfigurationError, match="ALLOWED_STATES has a bad entry") as info:
        validate_state("ohio")
    assert bad in str(info.value)
    assert not isinstance(info.value, ValueError)  # the operator's fault, never a client's 400


def test_set_allowed_states_takes_a_comma_separated_string_as_allowed_states_does():
    """Issue 11 §9: set_allowed_states("ohio,texas") once allowed "o" and "h" and refused "ohio"."""
    set_allowed_states("ohio, texas")
    assert validate_state("ohio") == "ohio" and validate_state("texas") == "texas"
    for letter in ("o", "h", "t"):
        with pytest.raises(UnknownStateError):
            validate_state(letter)
    set_allowed_states("utah")  # a single name is one state
    assert validate_state("utah") == "utah"
    with pytest.raises(UnknownStateError):
        validate_state("u")
    for bad in ("ohio,Texas", ["ohio", "Texas"], ["ohio", ""], "ohio,"):
        with pytest.raises(ConfigurationError, match="set_allowed_states"):
            set_allowed_states(bad)


def test_allow_list_in_code_wins_over_environment(monkeypatch):
    monkeypatch.setenv("ALLOWED_STATES", "ohio")
    set_allowed_states({"utah"})
    assert validate_state("utah") == "utah"
    with pytest.raises(InvalidStateError):
        validate_state("ohio")
    set_allowed_states(lambda s: s.endswith("_ok"))
    assert validate_state("x_ok") == "x_ok"
    with pytest.raises(InvalidStateError):
        validate_state("x_no")


def test_allow_list_never_admits_reserved_names():
    with pytest.raises(ConfigurationError, match="'admin'"):  # refused when set, not silently kept
        set_allowed_states({"admin"})
    set_allowed_states(lambda _state: True)  # a predicate cannot admit it either
    with pytest.raises(InvalidStateError):
        validate_state("admin")


def test_pool_task_sees_submitters_state():
    with ContextThreadPoolExecutor(max_workers=2) as pool:
        with state_scope("ohio"):
            ohio = pool.submit(get_state)
        with state_scope("texas"):
            texas = pool.submit(get_state)
            mapped = list(pool.map(lambda _: get_state(), range(4)))
        assert (ohio.result(), texas.result(), mapped) == ("ohio", "texas", ["texas"] * 4)


def test_plain_executor_leaks_between_tasks_but_ours_does_not():
    def set_then_read(value):
        before = get_state()
        set_state(value)
        return before

    with ThreadPoolExecutor(max_workers=1) as plain:
        plain.submit(set_then_read, "ohio").result()
        leaked = plain.submit(get_state).result()
    assert leaked == "ohio"  # the hazard the helper exists for

    with ContextThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(set_then_read, "ohio").result() is None
        assert pool.submit(set_then_read, "texas").result() is None
        assert pool.submit(get_state).result() is None


def test_submit_with_context_on_a_plain_executor():
    with ThreadPoolExecutor(max_workers=1) as plain, state_scope("utah"):
        assert submit_with_context(plain, get_state).result() == "utah"


def test_pool_hammered_by_many_threads_keeps_each_state():
    errors = []
    with ContextThreadPoolExecutor(max_workers=8) as pool:

        def submitter(i):
            state = f"s{i}"
            with state_scope(state):
                futures = [pool.submit(get_state) for _ in range(50)]
            if any(f.result() != state for f in futures):
                errors.append(state)

        threads = [threading.Thread(target=submitter, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_unit_context_sets_exactly_its_state_and_leaks_nothing():
    set_state("outer")
    assert run_in_unit_context("inner", get_state) == "inner"
    assert run_in_unit_context(None, get_state) is None
    run_in_unit_context("inner", set_state, "changed")
    assert get_state() == "outer"
    with pytest.raises(InvalidStateError):
        run_in_unit_context("admin", get_state)


def test_log_filter_stamps_records(caplog):
    logger = logging.getLogger("tests.state_filter")
    caplog.handler.addFilter(StateLogFilter())
    with caplog.at_level(logging.INFO, logger="tests.state_filter"):
        with state_scope("ohio"):
            logger.info("inside")
        logger.info("outside")
    assert [r.constitution_state for r in caplog.records] == ["ohio", "-"]


def test_import_does_not_configure_root_logger():
    import subprocess
    import sys

    code = "import logging, aws_helper_sync; print(len(logging.getLogger().handlers))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
