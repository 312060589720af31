"""lambda_handler("registered"): writes through a Repository with indexes (state-registry tests)."""

from typing import ClassVar

from aws_helper_sync import Lambda
from tests.registry_support import record_entry


class RegisteredLambda(Lambda):
    ran: ClassVar[list] = []

    def process(self):
        record_entry("lambda", type(self).ran)
        return "written"
