"""GET /me: who the auth step says is calling."""

from aws_helper_sync import API


class MeList(API):
    def process(self):
        return {
            "is_authenticated": self.is_authenticated,
            "user": self.current_user,
            "auth_data": self.auth_data,
        }
