"""Batch consumer for the SIGTERM test: signals that a batch is in flight, then waits.

Writes ``ready`` in $SLOW_BATCH_DIR, waits for ``go`` there (at most 30 s),
then appends the processed message ids to ``processed.txt``.
"""

import os
import time
from pathlib import Path

from aws_helper_sync import SQSConsumer


class SlowBatchConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        folder = Path(os.environ["SLOW_BATCH_DIR"])
        (folder / "ready").write_text(",".join(r["messageId"] for r in records))
        deadline = time.monotonic() + 30
        while not (folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(folder / "processed.txt", "a") as out:
            out.writelines(record["messageId"] + "\n" for record in records)
