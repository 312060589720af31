"""GET /returned: returns an ApiResponse dict instead of calling the setters."""

from aws_helper_sync import API, ApiResponse


class ReturnedList(API):
    def process(self):
        if self.query_parameters.get("plain"):
            return {"plain": True}
        return ApiResponse.created({"made": self.query_parameters.get("name")}, {"X-Made": "1"})
