"""Batch consumer of the FIFO-order tests written as the README's bulk consumer.

All records of the state group are collected first and written with one
ordered ``bulk_write`` (document id = the content's ``uid``); on an error,
every record from the first failed write on is marked failed, since an
ordered write applies nothing after it. ``ordered`` can be set to False to
show what goes wrong without it.
"""

from typing import ClassVar

from pymongo import InsertOne
from pymongo.errors import BulkWriteError

from aws_helper_sync import Repository, SQSConsumer


class FifoBulkRepository(Repository):
    collection_name = "fifo_bulk"


class FifoBulkConsumer(SQSConsumer):
    processing_mode = "batch"
    ordered: ClassVar[bool] = True

    def process_batch(self, records):
        batch = list(records)
        operations = [InsertOne({"_id": self.parse_body(r)["uid"]}) for r in batch]
        try:
            FifoBulkRepository().collection.bulk_write(operations, ordered=self.ordered)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if self.ordered:
                for record in batch[errors[0]["index"]:]:
                    self.add_message_failed(record["messageId"], exc)
            else:
                for error in errors:
                    self.add_message_failed(batch[error["index"]]["messageId"], exc)
