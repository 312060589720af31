"""Batch mode for aws-python-helper 0.32.0: one Motor bulk_write per state group, then the wait.

Its fetcher looks for ``consumer/<name>_consumer.py`` under the working directory.
"""

import asyncio
import json
import os

from aws_python_helper.context.state import get_state
from aws_python_helper.sqs.consumer_base import SQSConsumer
from common import event_document  # the benchmark's shared record -> upsert
from pymongo import UpdateOne


class BenchBatchConsumer(SQSConsumer):
    @property
    def processing_mode(self):
        return "batch"

    async def process_batch(self, records):
        ops = []
        for record in records:
            body = json.loads(record["body"])
            ops.append(UpdateOne(*event_document(record["messageId"], body), upsert=True))
        await getattr(self.db, get_state()).bench_events.bulk_write(ops, ordered=False)
        await asyncio.sleep(float(os.environ["BENCH_DOWNSTREAM_WAIT_MS"]) / 1000.0)
