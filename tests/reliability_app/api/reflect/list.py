"""GET /reflect?name=&value=&via=: puts request text into a response header, the classic
response-splitting bug; the library must refuse it (500) and send nothing forged."""

from aws_helper_sync import API, ApiResponse


class ReflectList(API):
    def process(self):
        name = self.query_parameters.get("name", "X-Reflect")
        value = self.query_parameters.get("value", "")
        via = self.query_parameters.get("via", "set_header")
        if via == "returned":
            return ApiResponse.success({"ok": True}, headers={name: value})
        if via == "set_headers":
            self.set_headers({name: value})
        else:
            self.set_header(name, value)
        return {"ok": True}
