"""POST /registered: writes through a Repository with indexes (state-registry tests)."""

from typing import ClassVar

from aws_helper_sync import API
from tests.registry_support import record_entry


class RegisteredPost(API):
    ran: ClassVar[list] = []

    def process(self):
        record_entry("api", type(self).ran)
        self.set_code(201)
