"""The parcel-events SNS topic: the API publishes to it, the consumer reads its queue.

Every event carries the constitution-state as a message attribute (added by
SNSPublisher from the current state), so the consumer writes it into the
right state's database without looking at the content.

    ParcelEventsTopic().publish_recorded(parcel)     # PARCEL_EVENTS_TOPIC_ARN
"""

from __future__ import annotations

import os
from typing import Any

from aws_helper_sync import SNSPublisher

TOPIC_ARN_ENV = "PARCEL_EVENTS_TOPIC_ARN"
PARCEL_RECORDED = "parcel.recorded"


def recorded_event(parcel: dict[str, Any]) -> dict[str, Any]:
    """The ``parcel.recorded`` event of a parcel.

    Its id is derived from the parcel, so whoever emits it (the API, or the
    reindex task repairing lost events) produces the same event once.
    """
    return {
        "event_id": f"{parcel['parcel_id']}:recorded",
        "type": PARCEL_RECORDED,
        "parcel_id": parcel["parcel_id"],
        "occurred_at": parcel["recorded_at"],
        "parcel": parcel,
    }


class ParcelEventsTopic:
    """Publishes parcel events; the topic ARN comes from PARCEL_EVENTS_TOPIC_ARN."""

    def __init__(self, topic_arn: str | None = None) -> None:
        topic_arn = topic_arn or os.environ.get(TOPIC_ARN_ENV)
        if not topic_arn:
            raise RuntimeError(f"set {TOPIC_ARN_ENV} to the ARN of the parcel-events SNS topic")
        self.publisher = SNSPublisher(topic_arn)

    def publish_recorded(self, parcel: dict[str, Any]) -> str:
        """Publish ``parcel.recorded`` in the current state; returns the SNS message id."""
        return self.publisher.publish({
            "content": recorded_event(parcel),
            "attributes": {"event_type": PARCEL_RECORDED},  # for subscription filter policies
        })
