"""GET /cookies: several Set-Cookie headers, by add_cookie and by a list value."""

from aws_helper_sync import API


class CookiesList(API):
    def process(self):
        if self.query_parameters.get("how") == "list":
            self.set_header("Set-Cookie", ["a=1; Path=/", "b=2; Path=/"])
        else:
            self.add_cookie("session", "s3cr3t", max_age=3600).add_cookie("theme", "dark", http_only=False)
        self.set_header("X-Kind", "cookies")
        return {"ok": True}
