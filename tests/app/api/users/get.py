"""GET /users/<id>: echoes what the router and dispatcher gave it."""

from aws_helper_sync import API, get_state


class UsersGet(API):
    def process(self):
        self.set_body({
            "route": "users/get",
            "method": self.method,
            "path_parameters": self.path_parameters,
            "data": self.data,
            "state": get_state(),
        })
