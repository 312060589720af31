"""Batch-mode consumer writing to a state-scoped Repository (end-to-end and worker tests).

One bulk_write per state group; the document id is the message id, so a
redelivered message overwrites instead of duplicating. Content flags:
``fail`` -> add_message_failed (not written), ``fail_until_receive: n``.
"""

from pymongo import UpdateOne

from aws_helper_sync import Repository, SQSConsumer, get_state


class LandRecordsRepository(Repository):
    collection_name = "land_records"


class LandRecordsConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        operations = []
        for record in records:
            content = self.parse_body(record)
            receive_count = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            if content.get("fail") or receive_count <= int(content.get("fail_until_receive", 0)):
                self.add_message_failed(record["messageId"], f"rejected (receive {receive_count})")
                continue
            operations.append(UpdateOne(
                {"_id": record["messageId"]},
                {"$set": {"content": content, "state": get_state()}, "$inc": {"writes": 1}},
                upsert=True,
            ))
        if operations:
            LandRecordsRepository().collection.bulk_write(operations, ordered=False)
