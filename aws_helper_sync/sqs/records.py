"""SQS records: their state, their content, and the partial-batch response.

Pure functions over plain dicts, shared by the Lambda handler and the worker.
Records come in two shapes and both are understood: the Lambda event shape
(``messageId``, ``body``, ``messageAttributes[...]["stringValue"]``) and the
boto3 ``receive_message`` shape (``MessageId``, ``Body``, ``StringValue``).

    state = extract_state(record)           # not validated yet: the caller does
    content = extract_content(record)       # SNS envelope unwrapped
    return batch_response(result)           # {"batchItemFailures": [...], counts}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .._lazy import deferred

if TYPE_CHECKING:
    import base64
    from urllib.parse import urlparse
else:  # rare paths (queue URLs, binary attributes), not at cold start
    base64 = deferred(__name__, "base64", "base64")
    urlparse = deferred(__name__, "urlparse", "urllib.parse", "urlparse")

from ..context.sources import (
    SESSION_ATTRIBUTE,
    Found,
    MalformedSessionError,
    first_agreeing,
    session_state_from_base64,
)
from ..context.state import InvalidStateError

STATE_ATTRIBUTE = "constitution-state"
STATE_BODY_KEY = "constitution_state"
#: Where the state of a usual record comes from (``usual_record``).
ATTRIBUTE_SOURCE = f"message attribute {STATE_ATTRIBUTE!r}"
_ENVELOPE_SOURCE = f"SNS envelope MessageAttributes {STATE_ATTRIBUTE!r}"


def _field(record: dict[str, Any], lambda_key: str, boto_key: str, default: Any = None) -> Any:
    value = record.get(lambda_key)
    if value is None:
        value = record.get(boto_key)
    return default if value is None else value


def message_id(record: Any) -> str | None:
    """The record's message id (``messageId`` or ``MessageId``), or None."""
    if not isinstance(record, dict):
        return None
    value = record.get("messageId")  # (each reader below is _field written out: they run per record)
    if value is None:
        value = record.get("MessageId")
    return value if isinstance(value, str) and value else None


def record_body(record: dict[str, Any]) -> Any:
    value = record.get("body")
    return record.get("Body") if value is None else value


def message_attributes(record: dict[str, Any]) -> dict[str, Any]:
    value = record.get("messageAttributes")
    if value is None:
        value = record.get("MessageAttributes")
    return value if isinstance(value, dict) else {}


def system_attributes(record: dict[str, Any]) -> dict[str, Any]:
    value = record.get("attributes")
    if value is None:
        value = record.get("Attributes")
    return value if isinstance(value, dict) else {}


SQS_EVENT_SOURCE = "aws:sqs"


class BadEventError(ValueError):
    """The event is not an SQS event the handler can account for record by record.

    Raised out of the handler (never answered): SNS ignores return values and
    an empty ``batchItemFailures`` means "all succeeded", so returning would
    lose the event; an exception makes Lambda retry or dead-letter it.
    """


def event_records(event: Any) -> list[dict[str, Any]]:
    """The event's ``Records`` list, its records not checked yet (``checked_message_id``); else BadEventError."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        shape = "a dict without a 'Records' list" if isinstance(event, dict) else type(event).__name__
        raise BadEventError(f"not an SQS event: expected a dict with a 'Records' list, got {shape}")
    records: list[dict[str, Any]] = event["Records"]
    return records


def checked_records(event: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The event's records and their message ids, every record checked (``checked_message_id``)."""
    records = event_records(event)
    return records, checked_message_ids(records)


def checked_message_ids(records: list[dict[str, Any]]) -> list[str]:
    """``checked_message_id`` of every record, in order (BadEventError for the first that is not SQS's)."""
    ids: list[str] = []
    append = ids.append
    source = SQS_EVENT_SOURCE
    for record in records:
        try:  # Lambda's record, checked in a few subscripts (the long way: checked_message_id)
            usual = type(record) is dict and record["eventSource"] == source and "EventSource" not in record
            message_id = record["messageId"] if usual else None
        except KeyError:
            message_id = None
        append(message_id if type(message_id) is str and message_id else checked_message_id(len(ids), record))
    return ids


def checked_message_id(index: int, record: Any) -> str:
    """The message id of ``records[index]`` of an SQS event; BadEventError when that record is not SQS's.

    A record whose ``eventSource`` (``EventSource`` for SNS) is present and is
    not ``aws:sqs`` makes the event foreign; hand-built records without one
    are accepted. A record must be an object with a message id.
    """
    if not isinstance(record, dict):
        raise BadEventError(f"not an SQS event: record {index} is a {type(record).__name__}, not an object")
    for key in ("eventSource", "EventSource"):  # (SNS spells it EventSource)
        if record.get(key, SQS_EVENT_SOURCE) != SQS_EVENT_SOURCE:
            shown = repr(record[key])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise BadEventError(
                f"not an SQS event: record {index} has {key} {shown} (expected {SQS_EVENT_SOURCE!r})"
            )
    mid = message_id(record)
    if mid is None:
        raise BadEventError(f"not an SQS event: record {index} has no messageId")
    return mid


class ConflictingStateAttributesError(InvalidStateError):
    """Two spellings of the ``constitution-state`` attribute name carry different values."""


def _loads(text: Any) -> tuple[Any, bool]:
    """``(parsed, True)`` for a JSON string (or an already-parsed value), else ``(text, False)``.

    Never raises: text that cannot be parsed for any reason (invalid, nested
    too deep for the parser's recursion limit, too big for memory, digits
    beyond the int conversion limit) counts as not JSON, so one poison body
    cannot break the code that reads the batch around it.
    """
    if not isinstance(text, (str, bytes, bytearray)):
        return text, text is not None
    try:
        return json.loads(text), True
    except Exception:  # noqa: BLE001 - ValueError, RecursionError, MemoryError...: not JSON we can read
        return text, False


def _might_hold_envelope(body: Any) -> bool:
    """False when ``body`` cannot be an SNS notification, without parsing it.

    An envelope has ``"Type": "Notification"``; in JSON text that word is
    either written out or spelled with an escape, which needs a backslash. A
    body with neither (most raw deliveries) is not parsed to look for one.
    """
    return not isinstance(body, str) or "Notification" in body or "\\" in body


def _envelope_in(parsed: Any, ok: bool) -> dict[str, Any] | None:
    if ok and isinstance(parsed, dict) and parsed.get("Type") == "Notification" \
            and isinstance(parsed.get("Message"), str):
        return parsed
    return None


def sns_envelope(record: dict[str, Any]) -> dict[str, Any] | None:
    """The SNS notification envelope carried in the body (non-raw delivery), or None."""
    body = record_body(record)
    return _envelope_in(*_loads(body)) if _might_hold_envelope(body) else None


def _content_of(body: Any, loaded: tuple[Any, bool]) -> Any:
    """``extract_content`` of a body already given to ``_loads`` (``loaded``)."""
    if body is None:
        return {}
    parsed, ok = loaded
    if not ok:
        return {"raw": body}
    if _envelope_in(parsed, ok) is not None:
        message, ok = _loads(parsed["Message"])
        return message if ok else {"raw": parsed["Message"]}
    return parsed


def extract_content(record: dict[str, Any]) -> Any:
    """The message content: the JSON body, an SNS envelope unwrapped to its ``Message``.

    Text that is not JSON comes back as ``{"raw": text}`` (never an empty dict),
    so a consumer can still see what arrived. A record without a body gives ``{}``.
    """
    body = record_body(record)
    return _content_of(body, _loads(body))


def _attribute_value(attribute: Any) -> Any:
    if not isinstance(attribute, dict):
        return attribute  # a hand-built event may give the plain value
    value = attribute.get("stringValue")
    if value is not None:
        return value  # the Lambda shape: the loop below, first key
    for key in ("stringValue", "StringValue", "Value", "binaryValue", "BinaryValue"):
        if key in attribute and attribute[key] is not None:
            return attribute[key]
    return None


def _spellings(attributes: Any, name: str) -> list[tuple[str, Any]]:
    """``(name as spelled, attribute)`` for every attribute called ``name`` in any letter case.

    Attribute names are case-sensitive in SQS and SNS, so ``Constitution-State``
    is a different attribute that a sender may well have meant as the state.
    """
    if not isinstance(attributes, dict) or not attributes:
        return []
    return [(key, value) for key, value in attributes.items() if isinstance(key, str) and key.lower() == name]


def state_attribute(attributes: Any, where: str = "message attributes") -> Any:
    """The value of the ``constitution-state`` attribute in ``attributes``, its name in any case.

    Every spelling is read. Spellings that carry different values raise
    ``ConflictingStateAttributesError`` (the record is failed, never run under
    one of them); None when no spelling has a value.
    """
    spellings = _spellings(attributes, STATE_ATTRIBUTE)
    if len(spellings) <= 1:  # the usual case: nothing to compare
        return _attribute_value(spellings[0][1]) if spellings else None
    found = [
        (name, value) for name, value in (
            (name, _attribute_value(attribute)) for name, attribute in spellings
        ) if value is not None
    ]
    if not found:
        return None
    name, value = found[0]
    for other_name, other_value in found[1:]:
        if other_value != value:
            raise ConflictingStateAttributesError(
                f"{where} {name!r} and {other_name!r} name different states "
                f"({value!r} and {other_value!r}): the record is not processed under either"
            )
    return value


def _is_binary(attribute: dict[str, Any]) -> bool:
    kind = attribute.get("dataType", attribute.get("DataType", attribute.get("Type")))
    if isinstance(kind, str) and kind.split(".", 1)[0] == "Binary":
        return True
    has_string = any(attribute.get(key) is not None for key in ("stringValue", "StringValue", "Value"))
    return not has_string and any(attribute.get(key) is not None for key in ("binaryValue", "BinaryValue"))


def session_attribute_states(attributes: Any, where: str) -> list[Found]:
    """``(source, state)`` for each spelling of the ``session`` attribute in ``attributes``.

    The async framework (0.33+) sends it as a String attribute holding base64
    of the JSON ``{"state": ..., "user": ...}``; only ``state`` is read. A
    Binary ``session`` attribute is refused (MalformedSessionError) rather than
    guessed at: its bytes could be the JSON or the base64 text, and a state
    read the wrong way round must not select a database.
    """
    found: list[Found] = []
    for name, attribute in _spellings(attributes, SESSION_ATTRIBUTE):
        source = f"{where} {name!r}"
        if isinstance(attribute, dict) and _is_binary(attribute):
            raise MalformedSessionError(
                f"{source} is a Binary attribute; a session is read only from a String attribute "
                "holding base64 of the JSON {\"state\": ...}"
            )
        value = _attribute_value(attribute)
        if value is not None:
            found.append((f"{source} (state)", session_state_from_base64(value, source)))
    return found


def _constitution_state(
    attributes: dict[str, Any], envelope: dict[str, Any] | None, body: Any, loaded: tuple[Any, bool] | None,
) -> Found:
    """The constitution-state sources of SPEC §7, first found wins: ``(where, value)``.

    ``loaded``: ``_loads(body)`` when the caller has parsed the body already,
    else None (parsed here only when no attribute names the state).
    """
    value = state_attribute(attributes)
    if value is not None:
        return ATTRIBUTE_SOURCE, value
    if envelope is not None:
        value = state_attribute(envelope.get("MessageAttributes"), "SNS envelope MessageAttributes")
        if value is not None:
            return _ENVELOPE_SOURCE, value
    content = _content_of(body, _loads(body) if loaded is None else loaded)
    if isinstance(content, dict):
        value = content.get(STATE_BODY_KEY)
        if value is not None:
            return f"body {STATE_BODY_KEY}", value
        inner = content.get("content")
        if isinstance(inner, dict) and inner.get(STATE_BODY_KEY) is not None:
            return f"body content.{STATE_BODY_KEY}", inner[STATE_BODY_KEY]
    return "constitution-state", None


def state_sources(record: dict[str, Any]) -> list[Found]:
    """Every place the record names its state, in order of precedence (value None: absent).

    The constitution-state (the SQS message attribute, the SNS envelope's
    ``MessageAttributes``, the content's ``constitution_state``, then
    ``content.constitution_state``: the first of these found stands for all
    four, as SPEC §7 says), then the ``session`` of the async framework's
    newer releases: the SQS attribute (raw SNS delivery, or sent straight to
    SQS), then the SNS envelope's. Raises MalformedSessionError for a session
    that cannot be read.
    """
    body = record_body(record)
    loaded = _loads(body) if _might_hold_envelope(body) else None  # parsed at most once for all sources
    envelope = None if loaded is None else _envelope_in(*loaded)
    attributes = message_attributes(record)
    sources = [_constitution_state(attributes, envelope, body, loaded)]
    sources.extend(session_attribute_states(attributes, "message attribute"))
    if envelope is not None:
        sources.extend(session_attribute_states(envelope.get("MessageAttributes"), "SNS envelope MessageAttributes"))
    return sources


def find_state(record: dict[str, Any]) -> Found | None:
    """``(source, value)`` of the record's state as found (unvalidated), or None when it has none.

    First found wins, and every source found must name the same value
    (``ConflictingStateSourcesError`` otherwise, naming both). A session that
    cannot be read raises MalformedSessionError, even next to a valid
    constitution-state: such a record is ambiguous and fails.
    """
    usual = usual_record(record)
    return first_agreeing(state_sources(record)) if usual is None else (ATTRIBUTE_SOURCE, usual[0])


def usual_record(record: dict[str, Any]) -> tuple[Any, str | None] | None:
    """``(state value, FIFO group)`` if ``record`` is a usual record, else None (read it the long way).

    A usual record has a ``constitution-state`` attribute with a value, no
    other spelling of it and no ``session`` attribute, and a body that cannot
    be an SNS envelope: that attribute is then the only source there is, so
    ``find_state(record)`` is ``(ATTRIBUTE_SOURCE, value)`` (the answer
    ``first_agreeing(state_sources(record))`` gives) and the group is
    ``fifo_group(record)``. Any shape (the Lambda and the boto3 spellings);
    never raises for a dict record. (``SQSConsumer._prepare`` settles the
    commonest record, a Lambda one of a standard queue in a state already
    seen, with plain subscripts before it gets here.)
    """
    body = record_body(record)
    if _might_hold_envelope(body):
        return None
    attributes = record.get("messageAttributes")  # (message_attributes, but a non-dict is not usual)
    if attributes is None:
        attributes = record.get("MessageAttributes")
    if not isinstance(attributes, dict):
        return None
    value = None
    for key, attribute in attributes.items():
        lowered = key.lower() if isinstance(key, str) else None
        if lowered == SESSION_ATTRIBUTE or (lowered == STATE_ATTRIBUTE and key != STATE_ATTRIBUTE):
            return None  # another source to compare with: the long way
        if key == STATE_ATTRIBUTE:
            value = _attribute_value(attribute)
    return None if value is None else (value, fifo_group(record))


def extract_state(record: dict[str, Any]) -> Any:
    """The record's state as found (unvalidated), or None when it has none.

    The sources, in order (``state_sources``): the SQS message attribute
    ``constitution-state``, the SNS envelope's ``MessageAttributes``, the
    content's ``constitution_state``, then ``content.constitution_state`` (the
    first of these found wins); then the ``session`` attribute (SQS, then SNS
    envelope), whose state must agree. Attribute names match in any case
    (``Constitution-State`` too); two spellings that disagree raise
    ``ConflictingStateAttributesError``, two sources that disagree
    ``ConflictingStateSourcesError``. A value that is found is returned as is,
    even when it is not a valid state, so that the caller fails the record
    instead of processing it under another state.
    """
    found = find_state(record)
    return None if found is None else found[1]


def fifo_group(record: dict[str, Any]) -> str | None:
    """The FIFO message group of the record, or None for a standard queue.

    A record from a ``.fifo`` queue without ``MessageGroupId`` (a hand-built
    event) counts as one group of its own queue: order is then kept for all.
    """
    attributes = record.get("attributes")  # (system_attributes, written out: this runs per record)
    if attributes is None:
        attributes = record.get("Attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, dict) else None
    if isinstance(group, str) and group:
        return group
    source = record.get("eventSourceARN")
    if source is None:
        source = record.get("EventSourceARN")
    return "" if isinstance(source, str) and source.endswith(".fifo") else None


# --- The partial batch response (built here and nowhere else) ---

class ProcessingResult:
    """The outcome of one batch: every message id in input order and the failed ones.

    ``failures`` maps a message id to the reason it was not acknowledged. (A
    plain class, not a dataclass: ``dataclasses`` imports ``inspect``, a
    cold-start cost.)
    """

    __slots__ = ("error", "failures", "message_ids")

    def __init__(self, message_ids: list[str] | None = None, failures: dict[str, str] | None = None,
                 error: str | None = None) -> None:
        self.message_ids: list[str] = [] if message_ids is None else message_ids
        self.failures: dict[str, str] = {} if failures is None else failures
        self.error = error

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessingResult):
            return NotImplemented
        return (self.message_ids, self.failures, self.error) == (other.message_ids, other.failures, other.error)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return f"ProcessingResult(message_ids={self.message_ids!r}, failures={self.failures!r}, error={self.error!r})"

    def fail(self, message_id: str, reason: str) -> None:
        self.failures.setdefault(message_id, reason)

    @property
    def succeeded(self) -> list[str]:
        return [mid for mid in self.message_ids if mid not in self.failures]

    @property
    def failed(self) -> list[str]:
        return [mid for mid in self.message_ids if mid in self.failures]

    @classmethod
    def all_failed(cls, message_ids: list[str], reason: str) -> ProcessingResult:
        result = cls(message_ids=list(message_ids), error=reason)
        for mid in message_ids:
            result.fail(mid, reason)
        return result


def batch_response(result: ProcessingResult, unidentified: int = 0) -> dict[str, Any]:
    """The Lambda ``ReportBatchItemFailures`` response for ``result``, plus counts.

    ``batchItemFailures`` is always present (empty: the whole batch succeeded).
    ``unidentified`` records (no message id) cannot be named, so an empty
    ``itemIdentifier`` is added for them: Lambda treats that as a failure of
    the whole batch, which is the only way not to acknowledge them.
    """
    failed = result.failed if result.failures else []
    failures = [{"itemIdentifier": mid} for mid in failed]
    if unidentified:
        failures.append({"itemIdentifier": ""})
    response: dict[str, Any] = {
        "batchItemFailures": failures,
        "processed": len(result.message_ids) + unidentified,
        "successful": len(result.message_ids) - len(failed),
        "failed": len(failed) + unidentified,
    }
    if result.error is not None:
        response["error"] = result.error
    return response


# --- boto3 messages -> Lambda-shape records (the worker's path) ---

def queue_region(queue_url: str) -> str | None:
    """The region in an AWS queue URL (``https://sqs.us-east-2.amazonaws.com/...``), or None."""
    host = urlparse(queue_url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[0] == "sqs" and parts[2] == "amazonaws":
        return parts[1]
    if len(parts) >= 4 and parts[1] == "queue" and parts[2] == "amazonaws":
        return parts[0]  # legacy https://us-east-2.queue.amazonaws.com/...
    return None


def queue_arn(queue_url: str, region: str) -> str:
    """The queue's ARN derived from its URL (``/<account>/<name>``), without an API call."""
    path = [p for p in urlparse(queue_url).path.split("/") if p]
    account, name = (path[-2], path[-1]) if len(path) >= 2 else ("000000000000", path[-1] if path else "")
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def _lambda_attribute(attribute: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"dataType": attribute.get("DataType", "String")}
    if "StringValue" in attribute:
        converted["stringValue"] = attribute["StringValue"]
    if "BinaryValue" in attribute:
        raw = attribute["BinaryValue"]
        converted["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, (bytes, bytearray)) else raw
    converted["stringListValues"] = list(attribute.get("StringListValues", []))
    converted["binaryListValues"] = list(attribute.get("BinaryListValues", []))
    return converted


def record_from_message(message: dict[str, Any], event_source_arn: str, region: str) -> dict[str, Any]:
    """A boto3 ``receive_message`` message in the shape Lambda gives to consumers.

    The worker converts every message, so one consumer class sees the same
    record in Lambda and in a script or container.
    """
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": event_source_arn,
        "awsRegion": region,
    }
