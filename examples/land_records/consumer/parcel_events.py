"""The parcel-events queue (subscribed to the SNS topic): each event joins its parcel's history.

Batch mode: the records of one receive are grouped by constitution-state and
the groups run concurrently, each in its own state, so ``ParcelHistoryRepository``
writes each group to its own state's database with one ``bulk_write``.
Writes are upserts keyed by the event id: a redelivered message changes nothing.

    # Lambda (SQS event source, ReportBatchItemFailures on):
    handler = sqs_handler("parcel_events")
    # a container or cron job:
    aws-helper-sync consume parcel_events --queue-url URL --until-empty
"""

from __future__ import annotations

from aws_helper_sync import SQSConsumer

from repositories import ParcelHistoryRepository

REQUIRED = ("event_id", "type", "parcel_id", "occurred_at")


class ParcelEventsConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        operations = []
        for record in records:
            event = self.parse_body(record)  # the SNS envelope, if any, is unwrapped
            missing = [key for key in REQUIRED if key not in event] if isinstance(event, dict) else REQUIRED
            if missing:
                # a malformed event will never succeed: fail only this record (redrive policy -> DLQ)
                self.add_message_failed(record["messageId"], f"not a parcel event: missing {', '.join(missing)}")
                continue
            operations.append(ParcelHistoryRepository.upsert(event))
        if operations:
            result = ParcelHistoryRepository().collection.bulk_write(operations, ordered=False)
            self.logger.info("%d events: %d new, %d already known",
                             len(operations), result.upserted_count, len(operations) - result.upserted_count)
