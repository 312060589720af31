"""POST /notes: a text body (text/*, decoded with its charset)."""

from aws_helper_sync import API


class NotesPost(API):
    body_format = "text"

    def process(self):
        return {"text": self.body_text, "data": self.data, "bytes": len(self.raw_body)}
