"""SQSPublisher against moto queues (issue 14 §2): chunks, size limit, FIFO order, the state, failures.

Faults come from a botocore ``before-send`` hook on the library's SQS client: it
takes chosen entries out of the real SendMessageBatch request (so SQS never gets
them) and the answer reports them Failed, as SQS does when it fails an entry on
its side (SenderFault false) or refuses it (SenderFault true).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from bson import ObjectId

from aws_helper_sync import (
    SendMessageBatchError,
    SNSPublisher,
    SQSPublisher,
    state_scope,
)
from aws_helper_sync import sqs as sqs_package
from aws_helper_sync.aws import aws_client
from aws_helper_sync.batching import BatchSender, SendPlan
from aws_helper_sync.sqs.publisher import SQS_MAX_MESSAGE_BYTES
from aws_helper_sync.sqs.worker import SQSWorker
from tests.publish_support import POOL_THREAD_PREFIX, InFlight
from tests.sqs_support import create_queue, receive_all, receive_fifo_in_order
from tests.thread_support import run_together


class SqsFaults:
    """Records each SendMessageBatch the library sends and fails chosen input indexes (by entry Id).

    The requests of one list go out concurrently from the send pool's threads: the
    hooks record under a lock, and the injected failures of a request wait for its
    answer under the thread that sends it (``requests``: in the order they were sent).
    """

    def __init__(self, client: Any) -> None:
        self.events = client.meta.events
        self.requests: list[list[int]] = []
        self.request_bytes: list[int] = []
        self.failures: dict[int, tuple[int, bool]] = {}  # index -> (times left, -1 always; sender fault)
        self.pending: dict[int, list[dict[str, Any]]] = {}  # thread -> the failures its request gets
        self._lock = threading.Lock()
        self.events.register("before-send.sqs.SendMessageBatch", self._before_send, unique_id="sqs-faults-send")
        self.events.register("after-call.sqs.SendMessageBatch", self._after_call, unique_id="sqs-faults-after")

    def fail(self, indexes: set[int], times: int = 1, sender_fault: bool = False) -> None:
        for index in indexes:
            self.failures[index] = (times, sender_fault)

    def close(self) -> None:
        self.events.unregister("before-send.sqs.SendMessageBatch", unique_id="sqs-faults-send")
        self.events.unregister("after-call.sqs.SendMessageBatch", unique_id="sqs-faults-after")

    def _before_send(self, request: Any, **_: Any) -> Any:
        body = json.loads(request.body)
        entries = body["Entries"]
        kept, injected = [], []
        with self._lock:
            self.requests.append([int(e["Id"]) for e in entries])
            self.request_bytes.append(sum(len(e["MessageBody"].encode()) for e in entries))
            taken = []
            for entry in entries:
                times, sender_fault = self.failures.get(int(entry["Id"]), (0, False))
                if times == 0:
                    kept.append(entry)
                    continue
                self.failures[int(entry["Id"])] = (times - 1 if times > 0 else times, sender_fault)
                taken.append((entry, sender_fault))
        for entry, sender_fault in taken:
            injected.append({"Id": entry["Id"], "SenderFault": sender_fault,
                             "Code": "InvalidParameterValue" if sender_fault else "InternalError",
                             "Message": "injected failure"})
        if not kept:
            response = AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, None)
            response._content = json.dumps({"Successful": [], "Failed": injected}).encode()
            return response
        body["Entries"] = kept
        request.body = json.dumps(body).encode()
        request.headers["Content-Length"] = str(len(request.body))
        self.pending[threading.get_ident()] = injected
        return None

    def _after_call(self, parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(self.pending.pop(threading.get_ident(), []))


@pytest.fixture
def faults(aws):
    probe = SqsFaults(aws_client("sqs", "us-east-2"))
    yield probe
    probe.close()


@pytest.fixture
def queue(boto_client, unique):
    sqs = boto_client("sqs")
    return sqs, create_queue(sqs, f"{unique}-direct")


@pytest.fixture
def fifo_queue(boto_client, unique):
    sqs = boto_client("sqs")
    return sqs, create_queue(sqs, f"{unique}-direct.fifo")


def fast(url: str, **kwargs: Any) -> SQSPublisher:
    return SQSPublisher(url, backoff_seconds=0.01, **kwargs)


def bodies(messages: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(m["Body"]) for m in messages]


def state_of(message: dict[str, Any]) -> str | None:
    return message.get("MessageAttributes", {}).get("constitution-state", {}).get("StringValue")


def test_the_publisher_shares_the_sns_publishers_batching():
    assert issubclass(SQSPublisher, BatchSender) and issubclass(SNSPublisher, BatchSender)
    from aws_helper_sync.sns import publisher as sns_publisher

    assert sns_publisher._SendPlan is SendPlan
    assert sqs_package.SQSPublisher is SQSPublisher


def test_send_one_carries_the_state_and_mongo_encoded_content(queue, make_state):
    sqs, url = queue
    state, oid = make_state("connecticut"), ObjectId()

    with state_scope(state):
        message_id = SQSPublisher(url).send({"content": {"parcel": oid}, "attributes": {"kind": "recorded", "n": 3}})

    [message] = receive_all(sqs, url)
    assert message["MessageId"] == message_id
    assert json.loads(message["Body"]) == {"parcel": str(oid)}
    assert state_of(message) == state
    assert message["MessageAttributes"]["kind"] == {"StringValue": "recorded", "DataType": "String"}
    assert message["MessageAttributes"]["n"]["StringValue"] == "3"


def test_a_message_that_sets_the_state_keeps_it_and_none_is_added_without_a_state(queue, make_state):
    sqs, url = queue
    publisher = SQSPublisher(url)

    with state_scope(make_state("ohio")):
        publisher.send({"content": {"i": 0}, "attributes": {"constitution-state": make_state("iowa")}})
    publisher.send({"content": {"i": 1}})

    received = {json.loads(m["Body"])["i"]: m for m in receive_all(sqs, url)}
    assert state_of(received[0]) == make_state("iowa")
    assert "MessageAttributes" not in received[1]


def test_a_list_goes_out_in_chunks_of_ten_with_ids_in_input_order(queue, faults, make_state):
    sqs, url = queue

    with state_scope(make_state("maine")):
        ids = SQSPublisher(url).send([{"content": {"n": n}} for n in range(25)])

    assert sorted(faults.requests) == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    received = receive_all(sqs, url)
    assert sorted(ids) == sorted(m["MessageId"] for m in received) and len(set(ids)) == 25
    by_id = {m["MessageId"]: json.loads(m["Body"])["n"] for m in received}
    assert [by_id[i] for i in ids] == list(range(25))
    assert {state_of(m) for m in received} == {make_state("maine")}


def test_requests_stay_under_the_total_size_limit(queue, faults):
    sqs, url = queue
    blob = "x" * (100 * 1024)

    SQSPublisher(url).send([{"content": {"n": n, "blob": blob}} for n in range(5)])

    assert sorted(faults.requests) == [[0, 1], [2, 3], [4]]  # sent concurrently: in any order
    assert all(size <= 256 * 1024 for size in faults.request_bytes)
    assert sorted(json.loads(m["Body"])["n"] for m in receive_all(sqs, url)) == list(range(5))


def test_a_queue_that_takes_1_mib_gets_fuller_requests(queue, faults):
    sqs, url = queue
    blob = "x" * (300 * 1024)

    SQSPublisher(url, max_message_bytes=SQS_MAX_MESSAGE_BYTES).send([{"content": {"n": n, "b": blob}}
                                                                    for n in range(4)])

    assert sorted(faults.requests) == [[0, 1, 2], [3]]
    assert sorted(b["n"] for b in bodies(receive_all(sqs, url))) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="max_message_bytes"):
        SQSPublisher(url, max_message_bytes=SQS_MAX_MESSAGE_BYTES + 1)


def test_oversized_message_counting_its_attributes_is_refused_before_sending(queue, faults):
    _, url = queue
    body_room = 256 * 1024 - len(json.dumps({"b": ""}))

    SQSPublisher(url).send([{"content": {"b": "x" * body_room}}])  # exactly the limit
    with pytest.raises(ValueError, match="message 1: 262145 bytes with its attributes"):
        SQSPublisher(url).send([{"content": {"b": "x"}},
                                {"content": {"b": "x" * (body_room - 7)}, "attributes": {"k": "v"}}])

    assert len(faults.requests) == 1


@pytest.mark.parametrize(("message", "error", "match"), [
    ({"body": {}}, ValueError, "unknown keys"),
    ({"content": None}, ValueError, "'content' is required"),
    ({"content": {"f": object()}}, ValueError, "not JSON serializable"),
    ({"content": {}, "attributes": {f"a{i}": "v" for i in range(11)}}, ValueError, "11 attributes"),
    ({"content": {}, "attributes": {"AWS.trace": "v"}}, ValueError, "not a valid SQS attribute name"),
    ({"content": {}, "attributes": {"a..b": "v"}}, ValueError, "not a valid SQS attribute name"),
    ({"content": {}, "attributes": {"k": "bell\x07"}}, ValueError, "does not accept"),
    ({"content": {}, "attributes": {"k": ""}}, ValueError, "empty"),
    ({"content": {}, "delay_seconds": 901}, ValueError, "0 to 900"),
    ({"content": {}, "delay_seconds": True}, ValueError, "0 to 900"),
    ({"content": {}, "deduplication_id": "d1"}, ValueError, "FIFO queues only"),
    ({"content": {}, "attributes": ["a"]}, TypeError, "must be a dict"),
    ("text", TypeError, "expected a dict"),
])
def test_malformed_messages_are_refused_before_sending(queue, faults, message, error, match):
    _, url = queue

    with pytest.raises(error, match=match):
        SQSPublisher(url).send([{"content": {"ok": 1}}, message])

    assert faults.requests == []


def test_ten_attributes_plus_the_state_are_refused_and_say_why(queue, make_state):
    _, url = queue
    attributes = {f"a{i}": str(i) for i in range(10)}
    publisher = SQSPublisher(url)

    assert publisher.send({"content": {}, "attributes": attributes})
    with state_scope(make_state("ohio")), pytest.raises(ValueError, match="constitution-state"):
        publisher.send({"content": {}, "attributes": attributes})


def test_characters_sqs_refuses_in_a_body_go_out_escaped_and_arrive_intact(queue):
    sqs, url = queue
    content = {"text": "a\ufffeb\uffff", "lone": "\ud800", "fine": "Hartford ü €"}

    SQSPublisher(url).send([{"content": content}])
    SQSPublisher(url).send({"content": {"fine": "Hartford ü €"}})

    received = receive_all(sqs, url)
    assert sorted(bodies(received), key=len) == [{"fine": "Hartford ü €"}, content]
    assert any("\\ufffe" in m["Body"] for m in received)  # escaped in the JSON text, not raw
    assert any("ü" in m["Body"] and "\\u" not in m["Body"] for m in received)


def test_delay_seconds_is_sent(queue, faults):
    sqs, url = queue
    attributes_seen = []

    def capture(request: Any, **_: Any) -> None:
        attributes_seen.append(json.loads(request.body))

    events = aws_client("sqs", "us-east-2").meta.events
    events.register("before-send.sqs.SendMessage", capture, unique_id="capture-send")
    try:
        SQSPublisher(url).send({"content": {"n": 0}, "delay_seconds": 0})
        SQSPublisher(url).send({"content": {"n": 1}, "delay_seconds": 5})
    finally:
        events.unregister("before-send.sqs.SendMessage", unique_id="capture-send")
    SQSPublisher(url).send([{"content": {"n": 2}, "delay_seconds": 5}])

    assert [a.get("DelaySeconds") for a in attributes_seen] == [0, 5]
    assert bodies(receive_all(sqs, url)) == [{"n": 0}]  # the delayed ones are not visible yet


# --- failures ---


def test_entries_sqs_fails_on_its_side_are_retried_after_the_rest(queue, faults):
    sqs, url = queue
    faults.fail({3, 12}, times=1)

    ids = fast(url).send([{"content": {"n": n}} for n in range(15)])

    assert sorted(faults.requests[:2]) == [list(range(10)), list(range(10, 15))]
    assert faults.requests[2:] == [[3, 12]]  # the retry round comes once both requests were answered
    assert len(set(ids)) == 15
    assert sorted(b["n"] for b in bodies(receive_all(sqs, url))) == list(range(15))


def test_what_still_fails_is_reported_by_index_with_the_ids_that_went_out(queue, faults):
    sqs, url = queue
    faults.fail({4}, times=-1, sender_fault=True)   # refused: not retried
    faults.fail({7}, times=-1)                      # failing on the SQS side every time: retried, then reported

    with pytest.raises(SendMessageBatchError) as caught:
        fast(url, max_attempts=3).send([{"content": {"n": n}} for n in range(12)])

    error = caught.value
    assert sorted(error.failed) == [4, 7]
    assert "InvalidParameterValue" in error.failed[4] and "InternalError" in error.failed[7]
    assert sorted(error.message_ids) == sorted(set(range(12)) - {4, 7})
    assert error.queue_url == url and "2 of 12 messages were not sent" in str(error)
    assert sorted(faults.requests[:2]) == [list(range(10)), [10, 11]] and faults.requests[2:] == [[7], [7]]
    assert sorted(b["n"] for b in bodies(receive_all(sqs, url))) == sorted(set(range(12)) - {4, 7})


def test_a_missing_queue_fails_every_entry_without_retrying(boto_client, faults, unique):
    boto_client("sqs")
    url = f"https://sqs.us-east-2.amazonaws.com/123456789012/{unique}-none"

    with pytest.raises(SendMessageBatchError) as caught:
        fast(url).send([{"content": {"n": n}} for n in range(3)])

    assert sorted(caught.value.failed) == [0, 1, 2] and caught.value.message_ids == {}
    assert len(faults.requests) == 1


# --- FIFO ---


def fifo(groups: str) -> list[dict[str, Any]]:
    return [{"content": {"n": n}, "group_id": g, "deduplication_id": f"d{n}"} for n, g in enumerate(groups)]


def delivered_order(sqs, url) -> list[tuple[str, int]]:
    return [(m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["n"]) for m in receive_fifo_in_order(sqs, url)]


def test_fifo_entry_failed_while_later_ones_went_out_is_reported_not_resent_out_of_order(fifo_queue, faults):
    """SQS took 0-2 and 4-9 of the first request but failed 3: a resent 3 would arrive after 9."""
    sqs, url = fifo_queue
    faults.fail({3}, times=1)

    with pytest.raises(SendMessageBatchError) as caught:
        fast(url).send(fifo("g" * 15))

    error = caught.value
    assert sorted(error.failed) == [3, *range(10, 15)]
    assert "out of order" in error.failed[3]
    assert all(error.failed[i] == "not sent: an earlier entry (3) of message group 'g' failed" for i in range(10, 15))
    assert faults.requests == [list(range(10))]
    assert delivered_order(sqs, url) == [("g", n) for n in [0, 1, 2, *range(4, 10)]]


def test_fifo_retry_keeps_the_group_in_order_when_the_whole_run_failed(fifo_queue, faults):
    """The failed entry is the last of its group's run: it goes alone first, then the rest of its group."""
    sqs, url = fifo_queue
    faults.fail({9}, times=1)

    fast(url).send(fifo("g" * 15))

    assert faults.requests == [list(range(10)), [9], list(range(10, 15))]
    assert delivered_order(sqs, url) == [("g", n) for n in range(15)]


def test_fifo_group_whose_entry_fails_for_good_sends_none_of_its_later_entries(fifo_queue, faults):
    sqs, url = fifo_queue
    faults.fail({1}, times=-1, sender_fault=True)  # group a = 0, 2, 4, ...; b = 1, 3, 5, ...

    with pytest.raises(SendMessageBatchError) as caught:
        fast(url).send(fifo("ab" * 10))

    error = caught.value
    delivered = delivered_order(sqs, url)
    assert [n for g, n in delivered if g == "a"] == list(range(0, 20, 2))
    # b's 3, 5, 7, 9 rode in the same request as 1 and went out: reported, never resent
    assert sorted(error.failed) == [1, *range(11, 20, 2)]
    assert all("earlier entry (1) of message group 'b' failed" in error.failed[i] for i in range(11, 20, 2))


def test_fifo_needs_a_group_and_takes_no_per_message_delay(fifo_queue, faults):
    _, url = fifo_queue

    with pytest.raises(ValueError, match="'group_id' is required for the FIFO queue"):
        SQSPublisher(url).send({"content": {}})
    with pytest.raises(ValueError, match="delay_seconds is not allowed per message"):
        SQSPublisher(url).send({"content": {}, "group_id": "g", "delay_seconds": 1})
    with pytest.raises(ValueError, match="1-128 letters"):
        SQSPublisher(url).send({"content": {}, "group_id": "g" * 129})
    with pytest.raises(ValueError, match="1-128 letters"):
        SQSPublisher(url).send({"content": {}, "group_id": "a b"})
    assert faults.requests == []


# --- consumed back ---


def test_messages_sent_in_two_states_are_consumed_by_the_worker_in_their_states(app_root, queue, make_state):
    _, url = queue
    publisher = SQSPublisher(url)
    for name in ("ohio", "iowa"):
        with state_scope(make_state(name)):
            publisher.send([{"content": {"from": name, "k": k}} for k in range(3)])

    worker = SQSWorker("state_recorder", url, until_empty=True, wait_time_seconds=0)
    stats = worker.run()

    assert (stats.received, stats.deleted, stats.failed) == (6, 6, 0)
    seen = type(worker.consumer).seen
    assert sorted((state, content["from"]) for _, state, content in seen) == sorted(
        [(make_state("ohio"), "ohio")] * 3 + [(make_state("iowa"), "iowa")] * 3)


def test_publishers_in_many_threads_share_one_client_and_keep_their_states(queue, make_state):
    sqs, url = queue
    publisher = SQSPublisher(url)
    start = threading.Barrier(12)
    clients, errors = set(), []

    def send(n: int) -> None:
        try:
            start.wait()
            with state_scope(make_state(f"p{n}")):
                clients.add(id(publisher.sqs_client))
                publisher.send([{"content": {"n": n, "k": k}} for k in range(2)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == [] and len(clients) == 1
    received = receive_all(sqs, url)
    assert len(received) == 24
    for message in received:
        assert state_of(message) == make_state(f"p{json.loads(message['Body'])['n']}")


def test_a_throttled_request_is_sent_again_whole_and_the_fifo_order_holds(fifo_queue, monkeypatch):
    """botocore's own retries off (AWS_MAX_ATTEMPTS=1): the throttled request comes back to the publisher."""
    from aws_helper_sync import aws

    sqs, url = fifo_queue
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.reset_clients()
    throttled: list[list[str]] = []

    def throttle_first(request: Any, **_: Any) -> Any:
        if throttled:
            return None
        throttled.append([e["Id"] for e in json.loads(request.body)["Entries"]])
        response = AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0",
                                                  "x-amzn-query-error": "RequestThrottled;Sender"}, None)
        response._content = json.dumps({"__type": "com.amazonaws.sqs#RequestThrottled",
                                        "message": "Rate exceeded"}).encode()
        return response

    events = aws_client("sqs", "us-east-2").meta.events
    events.register("before-send.sqs.SendMessageBatch", throttle_first, unique_id="throttle-first")
    try:
        ids = fast(url).send(fifo("g" * 15))
    finally:
        events.unregister("before-send.sqs.SendMessageBatch", unique_id="throttle-first")
        monkeypatch.delenv("AWS_MAX_ATTEMPTS")
        aws.reset_clients()

    assert throttled == [[str(n) for n in range(10)]]
    assert len(set(ids)) == 15
    assert delivered_order(sqs, url) == [("g", n) for n in range(15)]


def test_an_empty_list_sends_nothing(queue, faults):
    _, url = queue

    assert SQSPublisher(url).send([]) == []
    assert faults.requests == []


# --- concurrent requests (issue 15) ---


@pytest.fixture
def in_flight(aws):
    """20 ms per SQS send on the library's client, and the calls in flight counted (``InFlight``)."""
    with InFlight(aws_client("sqs", "us-east-2"), ("SendMessage", "SendMessageBatch")) as counter:
        yield counter


def test_requests_of_one_list_overlap_within_the_bound_and_ids_stay_in_input_order(queue, in_flight, make_state):
    sqs, url = queue

    with state_scope(make_state("maine")):
        ids = SQSPublisher(url, max_concurrency=4).send([{"content": {"n": n}} for n in range(100)])

    assert 1 < in_flight.peak <= 4
    assert {state for _, state in in_flight.calls} == {make_state("maine")}  # the pool threads ran in it
    assert any(name.startswith(POOL_THREAD_PREFIX) for name in in_flight.threads)
    received = receive_all(sqs, url)
    by_id = {m["MessageId"]: json.loads(m["Body"])["n"] for m in received}
    assert [by_id[i] for i in ids] == list(range(100))
    assert {state_of(m) for m in received} == {make_state("maine")}


def test_fifo_groups_go_concurrently_each_in_order_through_throttling_and_failures(fifo_queue, monkeypatch):
    """Six groups of 15 (g0 = 0-14, ...), botocore's retries off: g2's first request is throttled once
    (sent again whole), g3's 54 fails once (the last of its request: alone again, then 55-59), g4's 69
    is refused: 70-74 are never sent. Each group arrives in input order."""
    from aws_helper_sync import aws

    sqs, url = fifo_queue
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.reset_clients()
    client = aws_client("sqs", "us-east-2")
    throttled: list[str] = []

    def throttle_g2_once(request: Any, **_: Any) -> Any:
        if throttled or json.loads(request.body)["Entries"][0]["Id"] != "30":
            return None
        throttled.append("30")
        response = AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0",
                                                  "x-amzn-query-error": "RequestThrottled;Sender"}, None)
        response._content = json.dumps({"__type": "com.amazonaws.sqs#RequestThrottled",
                                        "message": "Rate exceeded"}).encode()
        return response

    with InFlight(client, ("SendMessageBatch",)) as counter:
        client.meta.events.register_first("before-send.sqs.SendMessageBatch", throttle_g2_once, unique_id="throttle")
        faults = SqsFaults(client)
        faults.fail({54}, times=1)
        faults.fail({69}, times=-1, sender_fault=True)
        try:
            with pytest.raises(SendMessageBatchError) as caught:
                fast(url).send(fifo("".join(str(n // 15) for n in range(90))))
        finally:
            faults.close()
            client.meta.events.unregister("before-send.sqs.SendMessageBatch", unique_id="throttle")
            monkeypatch.delenv("AWS_MAX_ATTEMPTS")
            aws.reset_clients()

    error = caught.value
    assert throttled == ["30"]
    assert 1 < counter.peak <= 8
    delivered = delivered_order(sqs, url)
    for group in range(6):
        expected = list(range(60, 69)) if group == 4 else list(range(group * 15, group * 15 + 15))
        assert [n for g, n in delivered if g == str(group)] == expected
    assert sorted(error.failed) == list(range(69, 75))
    assert all(error.failed[n] == "not sent: an earlier entry (69) of message group '4' failed" for n in range(70, 75))
    assert not any(n in request for request in faults.requests for n in range(70, 75))


def test_many_threads_send_lists_at_once_each_message_in_its_own_threads_state(queue, in_flight, make_state):
    """10 threads share one publisher (and the one send pool): 25 messages each, in 3 requests."""
    _, url = queue
    publisher = SQSPublisher(url)
    results: dict[int, list[str]] = {}

    def send(n: int) -> None:
        with state_scope(make_state(f"p{n}")):
            results[n] = publisher.send([{"content": {"n": n, "k": k}} for k in range(25)])

    assert run_together(send, 10) == []
    assert 1 < in_flight.pool_peak <= 8  # one pool for the process: 8 in flight from it at most, all threads
    assert len(in_flight.sent) == 250
    by_id = {}
    for entry, message_id in in_flight.sent:  # every entry SQS accepted, as it was sent
        body = json.loads(entry["MessageBody"])
        assert entry["MessageAttributes"]["constitution-state"]["StringValue"] == make_state(f"p{body['n']}")
        by_id[message_id] = (body["n"], body["k"])
    for n, ids in results.items():
        assert [by_id[i] for i in ids] == [(n, k) for k in range(25)]
