"""TASK_NAME=reindex: ensure the indexes of a state and repair lost parcel events.

    with state_scope("connecticut"):
        FargateExecutor().run_task("reindex", {"batch_size": 500})
    # locally: aws-helper-sync run-task reindex --state connecticut --env batch_size=500

Every parcel must have its ``parcel.recorded`` history entry. If the API could
not publish an event (SNS down), the entry is missing: this task re-creates it
from the parcel, in batches, with the same event id the API would have used,
so running it twice, or alongside the consumer, is harmless.
"""

from __future__ import annotations

from aws_helper_sync import FargateTask

from repositories import ParcelHistoryRepository, ParcelRepository
from topics import recorded_event


class ReindexTask(FargateTask):
    def validate(self) -> None:
        batch_size = str(self.get_env("batch_size", "500"))
        if not batch_size.isdigit() or int(batch_size) < 1:
            raise ValueError(f"BATCH_SIZE must be a positive whole number, got {batch_size!r}")

    def execute(self):
        batch_size = int(self.get_env("batch_size", "500"))
        parcels, history = ParcelRepository(), ParcelHistoryRepository()
        indexes = parcels.ensure_indexes() + history.ensure_indexes()

        checked = repaired = 0
        after = None
        while True:
            page = parcels.page(after=after, limit=batch_size)
            if not page:
                break
            known = history.recorded_parcel_ids([p["parcel_id"] for p in page])
            missing = [history.upsert(recorded_event(p)) for p in page if p["parcel_id"] not in known]
            if missing:
                repaired += history.collection.bulk_write(missing, ordered=False).upserted_count
            checked += len(page)
            after = page[-1]["parcel_id"]

        self.logger.info("indexes %s; %d parcels checked, %d history entries repaired",
                         ", ".join(indexes), checked, repaired)
        return {"indexes": indexes, "checked": checked, "repaired": repaired}
