"""GET /echo?n=<digits>: a database-free endpoint for the fuzz tests."""

from aws_helper_sync import API


class EchoList(API):
    def validate(self):
        n = self.query_parameters.get("n", "0")
        if not (n.isascii() and n.isdigit() and len(n) <= 6):
            raise ValueError("n must be a number of at most 6 digits")

    def process(self):
        return {"n": int(self.query_parameters.get("n", "0")), "params": sorted(self.query_parameters)}
