"""lambda_handler("parcel_report"): acreage per county in the caller's state, kept in core.

    boto3.client("lambda").invoke(FunctionName="parcel-report", Payload=json.dumps(
        {"constitution-state": "connecticut", "data": {"county": "Hartford"}}))
    # -> {"success": true, "data": {"state": "connecticut", "counties": [...], ...}}

The report is computed in the state's own database and stored in the shared
``core`` database, where reports of all states can be compared.
"""

from __future__ import annotations

import datetime

from aws_helper_sync import Lambda, get_state

from repositories import ParcelReportRepository, ParcelRepository


class ParcelReportLambda(Lambda):
    def validate(self) -> None:
        if not isinstance(self.data, dict):
            raise TypeError("data must be an object, e.g. {} or {\"county\": \"Hartford\"}")
        county = self.data.get("county")
        if county is not None and (not isinstance(county, str) or not county.strip()):
            raise ValueError("county must be a non-empty string")

    def process(self):
        match = {"county": self.data["county"]} if self.data.get("county") else {}
        counties = list(ParcelRepository().collection.aggregate([
            {"$match": match},
            {"$group": {"_id": "$county", "parcels": {"$sum": 1}, "acres": {"$sum": "$acres"}}},
            {"$sort": {"_id": 1}},
        ]))
        report = {
            "state": get_state(),
            "county": self.data.get("county"),
            "generated_at": datetime.datetime.now(datetime.timezone.utc),
            "counties": [{"county": c["_id"], "parcels": c["parcels"], "acres": c["acres"]} for c in counties],
            "total_parcels": sum(c["parcels"] for c in counties),
            "total_acres": sum(c["acres"] for c in counties),
        }
        ParcelReportRepository().collection.insert_one(report)
        return report
