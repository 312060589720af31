"""The suite itself: reproducible hypothesis examples, database names a shared server can hold."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DATABASE_PREFIX, REPORTS_DATABASE, foreign_databases

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_hypothesis_runs_derandomized_without_an_example_database():
    assert settings.default.derandomize is True
    assert settings.default.database is None


def test_hypothesis_gives_the_same_examples_on_every_run():
    seen: list[tuple[str, int]] = []

    @settings(max_examples=40)  # as the suite's tests do: explicit settings keep the profile's others
    @given(st.text(max_size=30), st.integers())
    def probe(text: str, number: int) -> None:
        seen.append((text, number))

    probe()
    first = list(seen)
    seen.clear()
    probe()

    assert len(first) == 40 and seen == first


def test_hypothesis_is_pinned_in_the_test_extra():
    test_extra = PYPROJECT.read_text().split("test = [", 1)[1].split("]", 1)[0]
    assert re.search(r'"hypothesis==\d+\.\d+\.\d+"', test_extra)


def test_database_names_of_the_session_share_one_prefix(unique, make_state):
    assert re.fullmatch(r"t[0-9a-f]{4}", DATABASE_PREFIX)
    assert unique.startswith(DATABASE_PREFIX) and make_state("core").startswith(DATABASE_PREFIX)
    assert REPORTS_DATABASE.startswith(DATABASE_PREFIX)


def test_the_session_check_names_only_new_databases_without_the_prefix():
    before = {"admin", "local", "connecticut"}
    after = before | {"config", f"{DATABASE_PREFIX}9f8e7d6c_ohio", "core", "new_jersey"}
    assert foreign_databases(before, after) == ["core", "new_jersey"]
