"""POST /echo: a database-free endpoint for the fuzz tests; refuses what it cannot use.

Body ``{"items": [int, ...] (at most 1000), "label": str?}`` -> counts and the label.
"""

from aws_helper_sync import API, get_state


class EchoPost(API):
    def validate(self):
        items = self.data.get("items")
        if not isinstance(items, list) or len(items) > 1000:
            raise ValueError("items must be a list of at most 1000 integers")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
            raise ValueError("items must be integers")
        label = self.data.get("label", "")
        if not isinstance(label, str) or len(label) > 200:
            raise ValueError("label must be a string of at most 200 characters")

    def process(self):
        return {
            "count": len(self.data["items"]),
            "total": sum(self.data["items"]),
            "label": self.data.get("label", ""),
            "state": get_state(),
            "headers": len(self.headers),
        }
