"""POST /ledger: stores an entry with a naive datetime and a Decimal128 (types JSON has not)."""

import datetime
from decimal import Decimal

from bson import Decimal128

from aws_helper_sync import API, get_state


class LedgerPost(API):
    def process(self):
        entry = {
            "_id": self.data["id"],
            "recorded_at": datetime.datetime(2026, 1, 2, 3, 4, 5, 678000),  # naive, meaning UTC
            "amount": Decimal128(Decimal(self.data["amount"])),
            "nothing": Decimal128("NaN"),
        }
        self.db[get_state()].ledger.insert_one(entry)
        self.set_code(201).set_body(entry)
