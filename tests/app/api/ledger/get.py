"""GET /ledger/<id>: the stored entry as MongoDB returns it."""

from aws_helper_sync import API, get_state
from aws_helper_sync.api import NotFoundError


class LedgerGet(API):
    def process(self):
        entry = self.db[get_state()].ledger.find_one({"_id": self.path_parameters[0]})
        if entry is None:
            raise NotFoundError("no such entry")
        self.set_body(entry)
