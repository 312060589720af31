"""lambda_handler("canary"): records that it ran, and writes in the state's database."""

from typing import ClassVar

from aws_helper_sync import Lambda, get_state


class CanaryLambda(Lambda):
    ran: ClassVar[list] = []

    def process(self):
        type(self).ran.append(get_state())
        self.db[get_state()].injection_canary.insert_one({"entry": "lambda"})
        return "written"
