"""Data access of the land-records service, shared by every entry point.

``ParcelRepository`` and ``ParcelHistoryRepository`` have no ``database_key``:
they live in the database of the current constitution-state (``connecticut``,
``new_jersey``...), so one code base serves every state and a request can
only reach its own state's records. ``ParcelReportRepository`` sets
``database_key``: reports of all states live in one database, ``core`` unless
``REPORTS_DATABASE`` names another (read once, when this module is imported).

Entry-point files import this module by name (the app root is on ``sys.path``
on Lambda, in the container, and when aws-helper-sync loads the app):

    from repositories import ParcelRepository
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from aws_helper_sync import Repository
from pymongo import UpdateOne

PARCEL_PROJECTION = {"_id": 0}


class ParcelRepository(Repository):
    """The recorded parcels of the current state (one document per parcel)."""

    collection_name = "parcels"
    indexes = (
        {"key": [("parcel_id", 1)], "unique": True, "name": "parcel_id_unique"},
        {"key": [("county", 1), ("parcel_id", 1)], "name": "county_parcel_id"},
    )

    def get(self, parcel_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"parcel_id": parcel_id}, PARCEL_PROJECTION)

    def page(self, county: str | None = None, after: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Parcels in ``parcel_id`` order, ``limit`` at a time after the id ``after`` (keyset paging)."""
        query: dict[str, Any] = {}
        if county:
            query["county"] = county
        if after:
            query["parcel_id"] = {"$gt": after}
        cursor = self.collection.find(query, PARCEL_PROJECTION).sort("parcel_id", 1).limit(limit)
        return list(cursor)

    def record(self, parcel: dict[str, Any]) -> None:
        """Insert a new parcel; raises pymongo's DuplicateKeyError when its id is taken."""
        self.collection.insert_one(dict(parcel))  # a copy: insert_one adds _id to what it is given


class ParcelHistoryRepository(Repository):
    """The chain of events of each parcel in the current state; one document per event."""

    collection_name = "parcel_history"
    indexes = (
        {"key": [("event_id", 1)], "unique": True, "name": "event_id_unique"},
        {"key": [("parcel_id", 1), ("occurred_at", 1)], "name": "parcel_id_occurred_at"},
    )

    @staticmethod
    def upsert(event: dict[str, Any]) -> UpdateOne:
        """The bulk_write operation storing ``event`` once: a redelivered event changes nothing."""
        occurred_at = event["occurred_at"]
        if isinstance(occurred_at, str):  # events arrive from SNS/SQS as JSON
            occurred_at = datetime.datetime.fromisoformat(occurred_at)
        entry = {
            "event_id": event["event_id"],
            "type": event["type"],
            "parcel_id": event["parcel_id"],
            "occurred_at": occurred_at,
            "data": event.get("parcel", {}),
        }
        return UpdateOne({"event_id": entry["event_id"]}, {"$setOnInsert": entry}, upsert=True)

    def recorded_parcel_ids(self, parcel_ids: list[str]) -> set[str]:
        """Which of ``parcel_ids`` already have their ``parcel.recorded`` event."""
        found = self.collection.find(
            {"parcel_id": {"$in": parcel_ids}, "type": "parcel.recorded"}, {"parcel_id": 1, "_id": 0}
        )
        return {doc["parcel_id"] for doc in found}


class ParcelReportRepository(Repository):
    """Acreage reports of every state, in one shared database (``core`` by default)."""

    collection_name = "parcel_reports"
    database_key = os.environ.get("REPORTS_DATABASE") or "core"
    indexes = ({"key": [("state", 1), ("generated_at", -1)], "name": "state_generated_at"},)

    def latest(self, state: str) -> dict[str, Any] | None:
        return self.collection.find_one({"state": state}, sort=[("generated_at", -1)])
