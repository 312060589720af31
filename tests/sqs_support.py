"""Helpers of the SQS/SNS tests: Lambda-shape events and queue arrangements.

Lambda events are built in the documented shape (Lambda cannot run here);
queues and topics are real ones on the moto server.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

QUEUE_ARN = "arn:aws:sqs:us-east-2:123456789012:tests-queue"
FIFO_QUEUE_ARN = "arn:aws:sqs:us-east-2:123456789012:tests-queue.fifo"


def lambda_record(
    body: Any,
    *,
    message_id: str | None = None,
    state: str | None = None,
    group: str | None = None,
    source_arn: str = QUEUE_ARN,
    receive_count: int = 1,
) -> dict[str, Any]:
    """One record as Lambda delivers it from SQS (``messageAttributes`` with ``stringValue``)."""
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    }
    if group is not None:
        attributes.update(MessageGroupId=group, SequenceNumber="1", MessageDeduplicationId=uuid.uuid4().hex)
    message_attributes = {}
    if state is not None:
        message_attributes["constitution-state"] = {
            "stringValue": state, "stringListValues": [], "binaryListValues": [], "dataType": "String",
        }
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": "us-east-2",
    }


def lambda_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def create_queue(sqs, name: str, **attributes: Any) -> str:
    """A queue with a 1 s visibility timeout by default (moto uses the real clock)."""
    attributes = {"VisibilityTimeout": "1", **{k: str(v) for k, v in attributes.items()}}
    if name.endswith(".fifo"):
        attributes.setdefault("FifoQueue", "true")
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def queue_depth(sqs, url: str) -> tuple[int, int]:
    """(visible, in flight) message counts."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def send(sqs, url: str, body: Any, state: str | None = None, **extra: Any) -> str:
    params: dict[str, Any] = {"QueueUrl": url, "MessageBody": body if isinstance(body, str) else json.dumps(body)}
    if state is not None:
        params["MessageAttributes"] = {"constitution-state": {"DataType": "String", "StringValue": state}}
    params.update(extra)
    return sqs.send_message(**params)["MessageId"]


def receive_all(sqs, url: str) -> list[dict[str, Any]]:
    """Every visible message (boto3 shape, all attributes), receiving until a receive comes back empty.

    Received messages stay invisible for 30 s, so none is counted twice.
    """
    messages: list[dict[str, Any]] = []
    for _ in range(100):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30,
            MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    return messages


def subscribe_queue(sns, sqs, topic_arn: str, queue_url: str, *, raw: bool) -> str:
    attributes = {"RawMessageDelivery": "true"} if raw else {}
    return sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, queue_url), Attributes=attributes,
    )["SubscriptionArn"]


def receive_fifo_in_order(sqs, url: str) -> list[dict[str, Any]]:
    """Every message of a FIFO queue in delivery order, deleting each batch before the next receive.

    A FIFO queue hands out no more of a message group while earlier ones of it are in
    flight, so a reader that keeps messages invisible (``receive_all``) stops at the first batch.
    """
    messages: list[dict[str, Any]] = []
    for _ in range(100):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30,
            MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
        ])
    return messages
