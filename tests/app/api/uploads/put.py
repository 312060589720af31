"""PUT /uploads/<id>: raw bytes, PNG images only (content_types narrows the format)."""

from aws_helper_sync import API


class UploadsPut(API):
    body_format = "bytes"
    content_types = ("image/png",)

    def process(self):
        return {"id": self.path_parameters[0], "size": len(self.raw_body)}
