"""Settings read the environment at call time, exactly as os.environ sees it."""

from __future__ import annotations

import os

import pytest

from aws_helper_sync import settings
from aws_helper_sync.errors import ConfigurationError


def test_env_follows_every_change_to_os_environ(monkeypatch):
    monkeypatch.delenv("AHS_SETTING", raising=False)
    assert settings.env("AHS_SETTING", "default") == "default"
    monkeypatch.setenv("AHS_SETTING", "  padded  ")
    assert settings.env("AHS_SETTING") == "padded"
    os.environ["AHS_SETTING"] = "caf\u00e9"
    assert settings.env("AHS_SETTING") == "caf\u00e9"
    os.environ.update(AHS_SETTING="updated")
    assert settings.env("AHS_SETTING") == "updated"
    monkeypatch.setenv("AHS_SETTING", "   ")
    assert settings.env("AHS_SETTING", "blank counts as unset") == "blank counts as unset"
    del os.environ["AHS_SETTING"]
    assert settings.env("AHS_SETTING") is None


def test_env_agrees_with_os_environ_for_every_variable():
    for name, value in os.environ.items():
        assert settings.env(name) == (value.strip() or None), name


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("Yes", True), ("0", False), ("off", False)])
def test_flags(monkeypatch, raw, expected):
    monkeypatch.setenv("AHS_FLAG", raw)
    assert settings.env_flag("AHS_FLAG", not expected) is expected


def test_unrecognised_flag_names_the_variable(monkeypatch):
    monkeypatch.setenv("AUTO_CREATE_INDEXES", "maybe")
    with pytest.raises(ConfigurationError, match="AUTO_CREATE_INDEXES='maybe' is not a boolean") as info:
        settings.auto_create_indexes()
    assert not isinstance(info.value, ValueError)  # the operator's fault: never a client's 400
