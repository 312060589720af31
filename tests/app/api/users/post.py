"""POST /users: echoes what the router and dispatcher gave it."""

from aws_helper_sync import API, get_state


class UsersPost(API):
    def process(self):
        self.set_body({
            "route": "users/post",
            "method": self.method,
            "path_parameters": self.path_parameters,
            "data": self.data,
            "state": get_state(),
        })
