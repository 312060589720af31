"""lambda_handler("land_records"): validates, writes to the state's database, returns the doc."""

import datetime

from aws_helper_sync import Lambda, get_state


class LandRecordsLambda(Lambda):
    def validate(self):
        if "parcel_id" not in self.data:
            raise ValueError("parcel_id is required")

    def process(self):
        doc = {
            "parcel_id": self.data["parcel_id"],
            "recorded_at": datetime.datetime(2024, 5, 6, 7, 8, 9),
            "state": get_state(),
        }
        self.db[get_state()].land_records.insert_one(doc)
        return self.db[get_state()].land_records.find_one({"_id": doc["_id"]})
