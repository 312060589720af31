"""GET /parcels/<parcel_id>: one parcel of the caller's state, or 404."""

from __future__ import annotations

from aws_helper_sync import API
from aws_helper_sync.api.exceptions import NotFoundError

from repositories import ParcelRepository


class ParcelsGet(API):
    def process(self):
        parcel_id = self.path_parameters[0]
        parcel = ParcelRepository().get(parcel_id)
        if parcel is None:
            raise NotFoundError(f"parcel {parcel_id} not found")
        return parcel
