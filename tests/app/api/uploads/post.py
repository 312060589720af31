"""POST /uploads: raw bytes (anything but JSON or a form)."""

import hashlib

from aws_helper_sync import API


class UploadsPost(API):
    body_format = "bytes"

    def process(self):
        return {"sha256": hashlib.sha256(self.raw_body).hexdigest(), "size": len(self.raw_body),
                "data": self.data}
