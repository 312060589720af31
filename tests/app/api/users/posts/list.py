"""GET /users/<id>/posts: echoes what the router and dispatcher gave it."""

from aws_helper_sync import API, get_state


class UserPostsList(API):
    def process(self):
        self.set_body({
            "route": "users/posts/list",
            "method": self.method,
            "path_parameters": self.path_parameters,
            "data": self.data,
            "state": get_state(),
        })
