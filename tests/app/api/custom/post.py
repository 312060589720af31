"""POST /custom: chained setters for status, headers and body."""

from aws_helper_sync import API


class CustomPost(API):
    def process(self):
        (
            self.set_code(201)
            .set_header("Location", "/custom/42")
            .set_headers({"x-custom": "yes", "content-type": "application/json; charset=utf-8"})
            .set_body({"created": True, "echo": self.data})
        )
