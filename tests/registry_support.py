"""Helpers of the state-registry tests (issue 11 §1, §4).

- ``RegisteredRecords``: a Repository WITH indexes that the ``registered``
  entry classes of tests/reliability_app write through, so that a state that
  got in would leave a database, a collection and an index behind.
- ``CommandLog``: a PyMongo command listener counting what reached the server
  (the registry's ``find`` queries are counted on the wire, not in the library).
- ``Registry`` and ``use_registry`` (a fixture's body): a real
  ``STATES_COLLECTION`` in a test-unique database, its queries counted.
- ``configuration_fault``: raises one of the library's own configuration
  errors from inside an entry point's ``process()``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from pymongo import monitoring

from aws_helper_sync import Repository, get_state, settings
from aws_helper_sync.database import MongoManager


class RegisteredRecords(Repository):
    collection_name = "registered_records"
    indexes = ({"key": [("entry", 1)]}, {"key": [("entry", 1), ("n", -1)], "name": "entry_n"})


def record_entry(entry: str, ran: list) -> None:
    """What every ``registered`` class does: note its state and write through the repository."""
    ran.append(get_state())
    RegisteredRecords().collection.insert_one({"entry": entry, "n": len(ran)})


class CommandLog(monitoring.CommandListener):
    """Counts the commands the process client sent, by (database, command name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            target = event.command.get(event.command_name)
            self.commands.append((event.database_name, event.command_name, target))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def count(self, database: str, command: str, target: Any = None) -> int:
        with self._lock:
            return sum(1 for d, c, t in self.commands
                       if d == database and c == command and (target is None or t == target))


class Registry:
    """A registry collection of one test: ``ohio`` and ``texas`` active, the rest not."""

    def __init__(self, log: CommandLog, unique: str) -> None:
        self.log = log
        self.database = f"{unique}_core"
        self.name = lambda state: f"{unique}_{state}"
        self.active = [self.name("ohio"), self.name("texas")]
        self.inactive = [self.name(s) for s in ("utah", "maine", "iowa", "idaho", "nevada")]
        self.collection.insert_many([
            {"name": self.name("ohio"), "status": "active"},
            {"name": self.name("texas"), "is_active": True},
            {"name": self.name("utah"), "status": "retired"},
            {"name": self.name("maine"), "is_active": False},
            {"name": self.name("iowa"), "status": "active", "is_active": False},  # contradicts: refused
            {"name": self.name("idaho"), "is_active": "true"},  # a string is not true
            {"name": self.name("nevada")},  # neither field: not active
            {"name": 42, "status": "active"},
        ])

    @property
    def collection(self):
        return MongoManager.get_client()[self.database]["states"]

    def queries(self) -> int:
        """``find`` commands sent to the registry collection."""
        return self.log.count(self.database, "find", "states")

    def databases(self) -> set[str]:
        return set(MongoManager.get_client().list_database_names())


def use_registry(unique: str, monkeypatch: Any) -> Iterator[Registry]:
    """Body of a fixture (after ``mongo_client``): the process client re-created with a
    command listener, a filled registry collection and STATES_COLLECTION naming it."""
    log = CommandLog()
    MongoManager.close()
    MongoManager.initialize(os.environ["MONGODB_URI"], event_listeners=[log])
    try:
        reg = Registry(log, unique)
        monkeypatch.setenv("STATES_COLLECTION", f"{reg.database}.states")
        yield reg
    finally:
        MongoManager.close()
        MongoManager.initialize(os.environ["MONGODB_URI"])


FAULTS = {
    # kind: (environment to set, environment to remove, the variable the message must name)
    "flag": ({"AUTO_CREATE_INDEXES": "enabled"}, (), "AUTO_CREATE_INDEXES"),
    "external": ({"EXTERNAL_MONGODB_CONNECTIONS": "[{\"name\": \"Dockets\"}"}, (), "EXTERNAL_MONGODB_CONNECTIONS"),
    "ecs": ({}, ("ECS_CLUSTER",), "ECS_CLUSTER"),
}


def configuration_fault(kind: str, entry: Any) -> None:
    """Trip the library's configuration check named by ``kind`` (see FAULTS)."""
    if kind == "flag":
        settings.auto_create_indexes()
    elif kind == "external":
        entry.external_db  # noqa: B018 - parses EXTERNAL_MONGODB_CONNECTIONS
    elif kind == "ecs":
        from aws_helper_sync import FargateExecutor

        FargateExecutor(subnets=["subnet-1"], region="us-east-2")
    raise AssertionError(f"configuration fault {kind!r} did not raise")
