"""``Lambda``: the base class of a standalone Lambda invoked through the SDK.

    # lambda/land_records/main.py  ->  lambda_handler("land_records")
    class LandRecordsLambda(Lambda):
        def validate(self):
            if "parcel_id" not in self.data:
                raise ValueError("parcel_id is required")

        def process(self):
            return self.db.connecticut.land_records.find_one({"parcel_id": self.data["parcel_id"]})

``process()`` returns the result; Mongo types in it are serialized for you.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..entrypoint import EntryPoint


class Lambda(EntryPoint):
    """One invocation: ``data`` (``event["data"]`` when present, else the event), ``event``, ``context``."""

    def __init__(self, event: Mapping[str, Any] | None = None, context: Any = None) -> None:
        self.event: Mapping[str, Any] = event if event is not None else {}
        self.context = context
        self.data: Any = self.event.get("data", self.event)

    def process(self) -> Any:
        """Do the work and return the result (sent back as ``data``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement process()")
