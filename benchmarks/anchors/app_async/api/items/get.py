"""GET /items/<id> for aws-python-helper 0.32.0: one Motor find_one in the state database."""

from aws_python_helper.api.base import API
from aws_python_helper.context.state import get_state


class ItemsGet(API):
    async def process(self):
        item = await getattr(self.db, get_state()).items.find_one({"_id": int(self.path_parameters[0])})
        if item is None:
            self.set_code(404).set_body({"message": "no such item"})
        else:
            self.set_body(item)
