"""GET /items/<id>: one find_one in the request's state database."""

from aws_helper_sync import get_state
from aws_helper_sync.api.base import API


class ItemsGet(API):
    def process(self):
        item = self.db[get_state()].items.find_one({"_id": int(self.path_parameters[0])})
        if item is None:
            self.set_code(404).set_body({"message": "no such item"})
        else:
            self.set_body(item)
