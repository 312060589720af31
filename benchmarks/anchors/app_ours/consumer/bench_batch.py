"""Batch mode: one bulk_write per state group, then the downstream call (a fixed wait)."""

import json
import os
import time

from common import event_document  # the benchmark's shared record -> upsert
from pymongo import UpdateOne

from aws_helper_sync import get_state
from aws_helper_sync.sqs.consumer_base import SQSConsumer


class BenchBatchConsumer(SQSConsumer):
    processing_mode = "batch"
    max_workers = 8

    def process_batch(self, records):
        ops = []
        for record in records:
            body = json.loads(record["body"])
            ops.append(UpdateOne(*event_document(record["messageId"], body), upsert=True))
        self.db[get_state()].bench_events.bulk_write(ops, ordered=False)
        time.sleep(float(os.environ["BENCH_DOWNSTREAM_WAIT_MS"]) / 1000.0)
