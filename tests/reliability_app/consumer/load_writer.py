"""Batch consumer of the load test: one bulk upsert per state group.

Content ``{"uid": str, "intended_state": str}``; the document records both the
state the sender meant and the state the framework put in context.
"""

from pymongo import UpdateOne

from aws_helper_sync import Repository, SQSConsumer, get_state


class LoadRecordsRepository(Repository):
    collection_name = "load_records"
    indexes = ({"key": [("intended_state", 1)]},)


class LoadWriterConsumer(SQSConsumer):
    processing_mode = "batch"
    max_workers = 4

    def process_batch(self, records):
        operations = []
        for record in records:
            content = self.parse_body(record)
            operations.append(UpdateOne(
                {"_id": content["uid"]},
                {"$set": {"intended_state": content["intended_state"], "written_in_state": get_state()}},
                upsert=True,
            ))
        LoadRecordsRepository().collection.bulk_write(operations, ordered=False)
