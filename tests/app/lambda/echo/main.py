"""lambda_handler("echo"): returns its data with BSON values to serialize."""

import datetime

from bson import ObjectId

from aws_helper_sync import Lambda, get_state


class EchoLambda(Lambda):
    def process(self):
        return {
            "data": self.data,
            "state": get_state(),
            "oid": ObjectId("65a1b2c3d4e5f6a7b8c9d0e1"),
            "at": datetime.datetime(2024, 1, 2, 3, 4, 5),
        }
