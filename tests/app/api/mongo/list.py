"""GET /mongo: a body full of BSON types, serialized by the Mongo-aware encoder."""

import datetime
import uuid
from decimal import Decimal

from bson import Decimal128, ObjectId

from aws_helper_sync import API


class MongoList(API):
    def process(self):
        self.set_body({
            "_id": ObjectId("65a1b2c3d4e5f6a7b8c9d0e1"),
            "at": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "amount": Decimal128(Decimal("12.50")),
            "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "tags": ("a", "b"),
        })
