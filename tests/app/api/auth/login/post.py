"""POST /auth/login: echoes what the router and dispatcher gave it."""

from aws_helper_sync import API, get_state


class AuthLoginPost(API):
    def process(self):
        self.set_body({
            "route": "auth/login/post",
            "method": self.method,
            "path_parameters": self.path_parameters,
            "data": self.data,
            "state": get_state(),
        })
