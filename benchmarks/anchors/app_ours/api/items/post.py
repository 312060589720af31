"""POST /items: parse the small JSON body and answer part of it (the POST CPU row)."""

from aws_helper_sync.api.base import API


class ItemsPost(API):
    def process(self):
        self.set_body({"name": self.data["name"], "qty": self.data["qty"]})
