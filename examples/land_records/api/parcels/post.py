"""POST /parcels: record a parcel in the caller's state and announce it on SNS.

    curl -X POST http://127.0.0.1:8000/parcels -H 'constitution-state: connecticut' \
         -d '{"parcel_id": "HFD-0001", "county": "Hartford", "owner": "A. Smith", "acres": 1.5}'

The parcel is the record of truth: when the event cannot be published the
parcel stays recorded (201, ``event_published: false``, the failure logged),
and the reindex task re-creates its history entry later.
"""

from __future__ import annotations

import datetime
import re

from aws_helper_sync import API, ApiResponse
from pymongo.errors import DuplicateKeyError

from repositories import ParcelRepository
from topics import ParcelEventsTopic

PARCEL_ID = re.compile(r"[A-Z0-9][A-Z0-9\-]{2,39}")
FIELDS = ("parcel_id", "county", "owner", "acres")


class ParcelsPost(API):
    def validate(self) -> None:
        missing = [name for name in FIELDS if name not in self.data]
        if missing:
            raise ValueError(f"missing fields: {', '.join(missing)}")
        unknown = sorted(set(self.data) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(unknown)}")
        parcel_id = self.data["parcel_id"]
        if not isinstance(parcel_id, str) or not PARCEL_ID.fullmatch(parcel_id):
            raise ValueError("parcel_id must be 3-40 upper-case letters, digits or '-'")
        for name in ("county", "owner"):
            if not isinstance(self.data[name], str) or not self.data[name].strip():
                raise ValueError(f"{name} must be a non-empty string")
        acres = self.data["acres"]
        if isinstance(acres, bool) or not isinstance(acres, (int, float)) or acres <= 0:
            raise ValueError("acres must be a positive number")

    def process(self):
        parcel = {
            "parcel_id": self.data["parcel_id"],
            "county": self.data["county"].strip(),
            "owner": self.data["owner"].strip(),
            "acres": float(self.data["acres"]),
            "recorded_at": datetime.datetime.now(datetime.timezone.utc),
        }
        try:
            ParcelRepository().record(parcel)
        except DuplicateKeyError:
            return ApiResponse.error(f"parcel {parcel['parcel_id']} is already recorded", 409)

        published = True
        try:
            ParcelEventsTopic().publish_recorded(parcel)
        except Exception:
            published = False
            self.logger.exception("parcel %s recorded but its event was not published", parcel["parcel_id"])
        self.set_code(201).set_header("Location", f"/parcels/{parcel['parcel_id']}")
        return {"parcel": parcel, "event_published": published}
