"""GET /parcels?county=Hartford&limit=20&after=HFD-0040: a page of the caller's parcels.

Keyset paging: ``next`` is the ``after`` value of the following page (None on the last).
"""

from __future__ import annotations

from aws_helper_sync import API

from repositories import ParcelRepository

MAX_LIMIT = 100


class ParcelsList(API):
    def validate(self) -> None:
        limit = self.query_parameters.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")

    def process(self):
        limit = int(self.query_parameters.get("limit", "50"))
        items = ParcelRepository().page(
            county=self.query_parameters.get("county"),
            after=self.query_parameters.get("after"),
            limit=limit,
        )
        return {"items": items, "next": items[-1]["parcel_id"] if len(items) == limit else None}
