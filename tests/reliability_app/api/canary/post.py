"""POST /canary: records that it ran, and writes in the state's database (state-injection test)."""

from typing import ClassVar

from aws_helper_sync import API, get_state


class CanaryPost(API):
    ran: ClassVar[list] = []

    def process(self):
        type(self).ran.append(get_state())
        self.db[get_state()].injection_canary.insert_one({"entry": "api"})
        self.set_code(201)
