"""Helpers of the tests of the land-records example (examples/land_records)."""

from __future__ import annotations

from typing import Any

from tests.sqs_support import create_queue, subscribe_queue


def parcel(parcel_id: str, county: str = "Hartford", owner: str = "A. Smith", acres: float = 1.5) -> dict[str, Any]:
    """A POST /parcels body."""
    return {"parcel_id": parcel_id, "county": county, "owner": owner, "acres": acres}


def parcel_events_queue(boto_client, name: str, monkeypatch) -> tuple[str, str]:
    """The example's topic with a raw-delivery queue subscribed; PARCEL_EVENTS_TOPIC_ARN set.

    Returns (topic ARN, queue URL).
    """
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = create_queue(sqs, name)
    subscribe_queue(sns, sqs, topic_arn, queue_url, raw=True)
    monkeypatch.setenv("PARCEL_EVENTS_TOPIC_ARN", topic_arn)
    return topic_arn, queue_url
