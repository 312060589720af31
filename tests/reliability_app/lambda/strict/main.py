"""lambda_handler("strict"): database-free, for the fuzz tests.

``data`` must be ``{"parcel_id": positive int}``; returns it with the state.
"""

from aws_helper_sync import Lambda, get_state


class StrictLambda(Lambda):
    def validate(self):
        parcel = self.data.get("parcel_id") if isinstance(self.data, dict) else None
        if isinstance(parcel, bool) or not isinstance(parcel, int) or parcel <= 0:
            raise ValueError("data must be an object with a positive integer parcel_id")

    def process(self):
        return {"parcel_id": self.data["parcel_id"], "state": get_state()}
