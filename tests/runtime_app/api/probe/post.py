"""POST /probe: fails, so the 500 carries the request id the library took from the context."""

from aws_helper_sync import API


class ProbePost(API):
    def process(self):
        raise RuntimeError("disk quota of tenant-7 exceeded")
