"""Batch mode, I/O-bound: each state group waits a fixed time (a downstream call), nothing else."""

import os
import time

from aws_helper_sync import get_state
from aws_helper_sync.sqs.consumer_base import SQSConsumer


class BenchIoBatchConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        if get_state() is None:
            raise RuntimeError("a state group ran without its state")
        time.sleep(float(os.environ["BENCH_IO_WAIT_MS"]) / 1000.0)
