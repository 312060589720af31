"""SNSPublisher against moto: single and batch publish, chunking, retries, checks before sending.

Partial failures are injected with botocore event hooks on the library's own
cached client: the chosen entries are taken out of the request (so moto never
publishes them) and reported back as ``Failed`` in the response, as SNS does.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st

from aws_helper_sync import SNSPublisher as TopLevelPublisher
from aws_helper_sync import SQSPublisher, aws, batching, get_state, state_scope
from aws_helper_sync.sns import PublishBatchError, SNSPublisher
from aws_helper_sync.sns.publisher import FAILED, RESEND, RETRY, SENT, _SendPlan
from tests.publish_support import POOL_THREAD_PREFIX, InFlight
from tests.sqs_support import (
    create_queue,
    receive_all,
    receive_fifo_in_order,
    subscribe_queue,
)
from tests.test_fork_safety import fork_while_held
from tests.thread_support import run_together


class _Http:
    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012 - a stand-in, never mutated
    content = b""


class SnsProbe:
    """Counts SNS calls of the shared client and injects per-entry failures into PublishBatch.

    The requests of one list go out concurrently (from the send pool's threads), so
    the hooks count under a lock; ``batch_sizes`` is in the order requests were sent.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()
        self.batch_sizes: list[int] = []
        self.failures: dict[int, tuple[int, bool, bool]] = {}  # index -> (times left, sender fault, silent)
        self.throttles: dict[int, int] = {}  # first index of a request -> times left to reject it whole
        self.uid = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._hooks = [
            ("provide-client-params.sns.PublishBatch", self._params),
            ("before-call.sns", self._before_call),
            ("after-call.sns.PublishBatch", self._after_call),
        ]
        for event, hook in self._hooks:
            client.meta.events.register(event, hook, unique_id=f"{self.uid}-{event}")

    def fail(self, indexes: set[int], times: int = 1, sender_fault: bool = False, silent: bool = False) -> None:
        """Fail these input indexes ``times`` times (-1: always); ``silent``: leave them out of the response."""
        for index in indexes:
            self.failures[index] = (times, sender_fault, silent)

    def throttle(self, first_index: int, times: int = 1) -> None:
        """Reject the request that starts with this input index ``times`` times, whole, as throttled."""
        self.throttles[first_index] = times

    def close(self) -> None:
        for event, hook in self._hooks:
            self.client.meta.events.unregister(event, hook, unique_id=f"{self.uid}-{event}")

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> dict[str, Any]:
        entries = params["PublishBatchRequestEntries"]
        kept, injected = [], []
        with self._lock:
            self.batch_sizes.append(len(entries))
            first = int(entries[0]["Id"])
            if self.throttles.get(first, 0) > 0:
                self.throttles[first] -= 1
                context["throttled"] = True
                return params
            taken = []
            for entry in entries:
                index = int(entry["Id"])
                times, sender_fault, silent = self.failures.get(index, (0, False, False))
                if times == 0:
                    kept.append(entry)
                    continue
                self.failures[index] = (times - 1 if times > 0 else times, sender_fault, silent)
                taken.append((entry, sender_fault, silent))
        for entry, sender_fault, silent in taken:
            if not silent:
                injected.append({"Id": entry["Id"], "Code": "InternalError" if not sender_fault else "InvalidParameter",
                                 "Message": "injected failure", "SenderFault": sender_fault})
        context["injected"] = injected
        context["nothing_left"] = not kept
        return {**params, "PublishBatchRequestEntries": kept or entries}

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        with self._lock:
            self.calls[model.name] += 1
        if context.get("throttled"):
            error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded", "Type": "Sender"}}
            return _Http400(), error
        if model.name == "PublishBatch" and context.get("nothing_left"):
            return _Http(), {"Successful": [], "Failed": list(context["injected"])}
        return None

    def _after_call(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not context.get("nothing_left") and not context.get("throttled"):
            parsed.setdefault("Failed", []).extend(context.get("injected", []))


class _Http400(_Http):
    status_code = 400


@pytest.fixture
def topic(boto_client, unique):
    return boto_client("sns").create_topic(Name=f"{unique}-topic")["TopicArn"]


@pytest.fixture
def envelope_queue(boto_client, topic, unique):
    """A queue subscribed to the topic without raw delivery (bodies are SNS envelopes)."""
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-envelopes")
    subscribe_queue(boto_client("sns"), sqs, topic, url, raw=False)
    return url


@pytest.fixture
def probe(aws):
    probe = SnsProbe(aws_client_for_sns())
    yield probe
    probe.close()


def aws_client_for_sns():
    return aws.aws_client("sns", "us-east-2")


def envelopes(boto_client, url: str) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in receive_all(boto_client("sqs"), url)]


def fast(topic: str, **kw: Any) -> SNSPublisher:
    return SNSPublisher(topic, backoff_seconds=0.01, **kw)


# --- construction ---


def test_top_level_name():
    assert TopLevelPublisher is SNSPublisher


@pytest.mark.parametrize("arn", ["", None])
def test_empty_topic_arn_is_refused(arn):
    with pytest.raises(ValueError, match="topic_arn"):
        SNSPublisher(arn)


def test_region_from_argument_then_environment_then_default(monkeypatch):
    arn = "arn:aws:sns:us-east-2:123456789012:t"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert SNSPublisher(arn, region="ap-south-1").region == "ap-south-1"
    assert SNSPublisher(arn).region == "eu-west-1"
    monkeypatch.delenv("AWS_REGION")
    assert SNSPublisher(arn).region == "eu-central-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert SNSPublisher(arn).region == "us-east-2"


# --- single publish ---


def test_publish_dict_sends_one_message_with_the_current_state(boto_client, topic, envelope_queue, probe, make_state):
    state = make_state("connecticut")
    oid = ObjectId()
    content = {"_id": oid, "at": datetime(2024, 5, 1, tzinfo=timezone.utc), "name": "Café"}

    with state_scope(state):
        message_id = SNSPublisher(topic).publish(
            {"content": content, "attributes": {"kind": "title", "n": 5}, "subject": "new title"}
        )

    [envelope] = envelopes(boto_client, envelope_queue)
    assert probe.calls == {"Publish": 1}
    assert envelope["MessageId"] == message_id
    assert json.loads(envelope["Message"]) == {"_id": str(oid), "at": "2024-05-01T00:00:00+00:00", "name": "Café"}
    assert envelope["Subject"] == "new title"
    attributes = {name: a["Value"] for name, a in envelope["MessageAttributes"].items()}
    assert attributes == {"constitution-state": state, "kind": "title", "n": "5"}


def test_message_state_attribute_wins_over_the_current_state(boto_client, topic, envelope_queue, make_state):
    with state_scope(make_state("ohio")):
        SNSPublisher(topic).publish({"content": {"x": 1}, "attributes": {"constitution-state": "texas"}})

    [envelope] = envelopes(boto_client, envelope_queue)
    assert envelope["MessageAttributes"]["constitution-state"]["Value"] == "texas"


def test_no_state_no_state_attribute(boto_client, topic, envelope_queue):
    SNSPublisher(topic).publish({"content": {"x": 1}})

    [envelope] = envelopes(boto_client, envelope_queue)
    assert "constitution-state" not in envelope.get("MessageAttributes", {})


# --- checks before sending ---


@pytest.mark.parametrize(("message", "error"), [
    ({"content": None}, ValueError),
    ({"attributes": {"a": "b"}}, ValueError),
    ({"content": {}, "atributes": {"a": "b"}}, ValueError),
    ({"content": {"x": object()}}, ValueError),
    ({"content": {}, "attributes": {"a": None}}, ValueError),
    ({"content": {}, "attributes": {"a": ""}}, ValueError),
    ({"content": {}, "attributes": ["a"]}, TypeError),
])
def test_malformed_message_is_refused_before_sending(topic, probe, message, error):
    with pytest.raises(error):
        SNSPublisher(topic).publish(message)
    assert probe.calls == {}


def test_eleven_attributes_are_refused_before_sending(topic, probe):
    attributes = {f"a{i}": str(i) for i in range(11)}

    with pytest.raises(ValueError, match="11 attributes"):
        SNSPublisher(topic).publish({"content": {"x": 1}, "attributes": attributes})

    assert probe.calls == {}


def test_ten_attributes_plus_the_state_are_refused_and_say_why(topic, probe, make_state):
    attributes = {f"a{i}": str(i) for i in range(10)}
    publisher = SNSPublisher(topic)

    assert publisher.publish({"content": {"x": 1}, "attributes": attributes})  # ten is fine
    with state_scope(make_state("ohio")), pytest.raises(ValueError, match="constitution-state"):
        publisher.publish({"content": {"x": 1}, "attributes": attributes})

    assert probe.calls == {"Publish": 1}


def test_one_bad_message_in_a_list_sends_nothing(topic, probe):
    messages = [{"content": {"i": i}} for i in range(12)]
    messages[11]["attributes"] = {f"a{i}": "v" for i in range(11)}

    with pytest.raises(ValueError, match="message 11"):
        SNSPublisher(topic).publish(messages)

    assert probe.calls == {}


def test_oversized_message_is_refused_before_sending(topic, probe):
    with pytest.raises(ValueError, match="256 KiB"):
        SNSPublisher(topic).publish([{"content": {"blob": "x" * (256 * 1024)}}])
    assert probe.calls == {}


# --- batch publish ---


def test_25_messages_go_in_3_batches_and_ids_come_back_in_input_order(boto_client, topic, envelope_queue, probe):
    messages = [{"content": {"i": i}} for i in range(25)]

    ids = SNSPublisher(topic).publish(messages)

    assert probe.calls == {"PublishBatch": 3}
    assert sorted(probe.batch_sizes) == [5, 10, 10]  # sent concurrently: in any order
    assert len(ids) == 25
    index_of = {e["MessageId"]: json.loads(e["Message"])["i"] for e in envelopes(boto_client, envelope_queue)}
    assert [index_of[message_id] for message_id in ids] == list(range(25))


def test_batches_also_respect_256_kib(topic, probe):
    messages = [{"content": {"blob": "x" * (100 * 1024)}} for _ in range(5)]

    ids = SNSPublisher(topic).publish(messages)

    assert len(ids) == 5
    assert sorted(probe.batch_sizes) == [1, 2, 2]


def test_empty_list_publishes_nothing(topic, probe):
    assert SNSPublisher(topic).publish([]) == []
    assert probe.calls == {}


def test_failed_entries_are_retried_and_every_message_published_once(boto_client, topic, envelope_queue, probe):
    probe.fail({3, 12, 13, 24}, times=1)
    messages = [{"content": {"i": i}} for i in range(25)]

    ids = fast(topic).publish(messages)

    assert probe.calls == {"PublishBatch": 4}  # 3 chunks, then one retry of the 4 failed entries
    assert sorted(probe.batch_sizes[:3]) == [5, 10, 10] and probe.batch_sizes[3:] == [4]
    index_of = {e["MessageId"]: json.loads(e["Message"])["i"] for e in envelopes(boto_client, envelope_queue)}
    assert sorted(index_of.values()) == list(range(25))  # no duplicate, none missing
    assert [index_of[message_id] for message_id in ids] == list(range(25))


def test_entries_failing_for_good_are_raised_with_indexes_and_successful_ids(
    boto_client, topic, envelope_queue, probe
):
    probe.fail({3, 12}, times=-1)
    messages = [{"content": {"i": i}} for i in range(25)]

    with pytest.raises(PublishBatchError) as caught:
        fast(topic, max_attempts=3).publish(messages)

    error = caught.value
    assert set(error.failed) == {3, 12}
    assert all("InternalError" in reason for reason in error.failed.values())
    assert set(error.message_ids) == set(range(25)) - {3, 12}
    assert "2 of 25 messages were not published" in str(error)
    assert probe.calls == {"PublishBatch": 5}  # 3 chunks, then 2 retries of the 2 failing entries
    assert sorted(probe.batch_sizes[:3]) == [5, 10, 10] and probe.batch_sizes[3:] == [2, 2]
    delivered = {e["MessageId"]: json.loads(e["Message"])["i"] for e in envelopes(boto_client, envelope_queue)}
    assert delivered == {mid: i for i, mid in error.message_ids.items()}


def test_sender_fault_is_not_retried(topic, probe):
    probe.fail({5}, times=-1, sender_fault=True)

    with pytest.raises(PublishBatchError) as caught:
        fast(topic).publish([{"content": {"i": i}} for i in range(8)])

    assert list(caught.value.failed) == [5]
    assert "InvalidParameter" in caught.value.failed[5]
    assert probe.calls == {"PublishBatch": 1}


def test_entry_missing_from_the_response_is_not_taken_as_sent(topic, probe):
    probe.fail({1}, times=-1, silent=True)  # neither Successful nor Failed, as moto does for some errors

    with pytest.raises(PublishBatchError) as caught:
        fast(topic, max_attempts=2).publish([{"content": {"i": i}} for i in range(3)])

    assert "no result" in caught.value.failed[1]
    assert set(caught.value.message_ids) == {0, 2}


# --- FIFO topics ---


def test_fifo_topic_passes_group_and_deduplication_ids(boto_client, unique):
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = create_queue(sqs, f"{unique}-q.fifo")
    subscribe_queue(sns, sqs, topic, url, raw=True)
    publisher = SNSPublisher(topic)

    with pytest.raises(ValueError, match="group_id"):
        publisher.publish([{"content": {"i": 0}, "deduplication_id": "d0"}])
    publisher.publish([
        {"content": {"i": i}, "group_id": f"g{i % 2}", "deduplication_id": f"d{i}"} for i in range(4)
    ])

    received = receive_all(sqs, url)
    groups = {json.loads(m["Body"])["i"]: m["Attributes"]["MessageGroupId"] for m in received}
    assert groups == {0: "g0", 1: "g1", 2: "g0", 3: "g1"}


# --- FIFO order on retries ---


class FifoSubscriber:
    """A FIFO topic with a FIFO queue subscribed, read back in delivery order."""

    def __init__(self, boto_client: Any, unique: str, raw: bool) -> None:
        sns, self.sqs = boto_client("sns"), boto_client("sqs")
        self.topic = sns.create_topic(Name=f"{unique}-order.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        self.url = create_queue(self.sqs, f"{unique}-order.fifo")
        subscribe_queue(sns, self.sqs, self.topic, self.url, raw=raw)
        self.raw = raw

    def received(self) -> list[tuple[str, int]]:
        """(message group, ``i`` of the content) of every delivered message, in delivery order."""
        delivered = []
        for message in receive_fifo_in_order(self.sqs, self.url):
            body = json.loads(message["Body"])
            content = body if self.raw else json.loads(body["Message"])
            delivered.append((message["Attributes"]["MessageGroupId"], content["i"]))
        return delivered


@pytest.fixture(params=[True, False], ids=["raw", "envelope"])
def fifo(request, boto_client, unique):
    return FifoSubscriber(boto_client, unique, raw=request.param)


@pytest.fixture
def fifo_raw(boto_client, unique):
    return FifoSubscriber(boto_client, unique, raw=True)


def fifo_messages(groups: Any, count: int) -> list[dict[str, Any]]:
    """``count`` messages; message ``i`` goes to ``groups(i)``, each with its own deduplication id."""
    return [{"content": {"i": i}, "group_id": groups(i), "deduplication_id": f"d{i}"} for i in range(count)]


def in_group(delivered: list[tuple[str, int]], group: str) -> list[int]:
    return [i for g, i in delivered if g == group]


def test_fifo_group_keeps_order_when_sns_fails_its_tail_of_a_request_once(fifo, probe):
    """SNS fails entries 3-9 of the first request once: they go out again before 10-14, in order."""
    probe.fail(set(range(3, 10)), times=1)

    ids = SNSPublisher(fifo.topic, backoff_seconds=0.01).publish(fifo_messages(lambda i: "g", 15))

    assert fifo.received() == [("g", i) for i in range(15)]
    assert len(set(ids)) == 15
    # each entry SNS failed goes again as the last of its group in its request, then 10-14
    assert probe.batch_sizes == [10, 1, 1, 1, 1, 1, 1, 1, 5]


def test_fifo_entry_failing_for_good_holds_back_the_rest_of_its_group(fifo_raw, probe):
    """Entry 9 never gets through: 10-14 of its group are never sent, and are reported failed."""
    probe.fail({9}, times=-1)

    with pytest.raises(PublishBatchError) as caught:
        SNSPublisher(fifo_raw.topic, backoff_seconds=0.01, max_attempts=3).publish(fifo_messages(lambda i: "g", 15))

    error = caught.value
    assert fifo_raw.received() == [("g", i) for i in range(9)]
    assert sorted(error.message_ids) == list(range(9))
    assert sorted(error.failed) == list(range(9, 15))
    assert "InternalError" in error.failed[9]
    assert all("earlier entry (9) of message group 'g' failed" in error.failed[i] for i in range(10, 15))
    assert "6 of 15 messages were not published" in str(error)
    assert probe.batch_sizes == [10, 1, 1]  # entry 9 three times, 10-14 never


def test_fifo_entry_rejected_by_sns_mid_request_is_not_retried_behind_its_group(fifo_raw, probe):
    """moto (like SNS) publishes 4-9 although it rejects 3: 3 is reported, not resent after them."""
    messages = fifo_messages(lambda i: "g", 15)
    del messages[3]["deduplication_id"]  # moto: InvalidParameter, SenderFault, the other entries go on

    with pytest.raises(PublishBatchError) as caught:
        SNSPublisher(fifo_raw.topic, backoff_seconds=0.01).publish(messages)

    error = caught.value
    assert fifo_raw.received() == [("g", i) for i in [0, 1, 2, *range(4, 10)]]
    assert sorted(error.message_ids) == [0, 1, 2, *range(4, 10)]
    assert sorted(error.failed) == [3, *range(10, 15)]
    assert "InvalidParameter" in error.failed[3]
    assert all("earlier entry (3) of message group 'g' failed" in error.failed[i] for i in range(10, 15))
    assert probe.batch_sizes == [10]


def test_fifo_retryable_failure_is_not_retried_once_later_entries_of_its_group_went_out(fifo_raw, probe):
    """SNS fails 3 but publishes 4-9 of the same group: a resent 3 would arrive after them."""
    probe.fail({3}, times=1)

    with pytest.raises(PublishBatchError) as caught:
        SNSPublisher(fifo_raw.topic, backoff_seconds=0.01).publish(fifo_messages(lambda i: "g", 15))

    error = caught.value
    assert fifo_raw.received() == [("g", i) for i in [0, 1, 2, *range(4, 10)]]
    assert sorted(error.failed) == [3, *range(10, 15)]
    assert "InternalError" in error.failed[3] and "out of order" in error.failed[3]
    assert probe.batch_sizes == [10]


def test_fifo_groups_are_independent_a_failed_or_retried_group_does_not_stop_the_others(fifo_raw, probe):
    """Groups a, b, c interleaved (i % 3): a retries entry 9, b loses entry 7 for good, c never waits."""
    probe.fail({9}, times=1)                     # a = 0, 3, 6, 9 | 12, ...: its last entry in request 1
    probe.fail({7}, times=-1, sender_fault=True)  # b = 1, 4, 7 | 10, ...
    groups = "abc"

    with pytest.raises(PublishBatchError) as caught:
        SNSPublisher(fifo_raw.topic, backoff_seconds=0.01).publish(fifo_messages(lambda i: groups[i % 3], 30))

    error = caught.value
    delivered = fifo_raw.received()
    assert in_group(delivered, "a") == list(range(0, 30, 3))
    assert in_group(delivered, "b") == [1, 4]
    assert in_group(delivered, "c") == list(range(2, 30, 3))
    assert sorted(error.failed) == list(range(7, 30, 3))
    assert "InvalidParameter" in error.failed[7]
    assert all("earlier entry (7) of message group 'b' failed" in error.failed[i] for i in range(10, 30, 3))
    assert sorted(error.message_ids) == sorted(set(range(30)) - set(range(7, 30, 3)))
    assert probe.batch_sizes == [10, 7, 1, 6]  # 0-9; c's 11-29 while a waits; a's 9 alone, then 12-27


def run_plan(groups: list[str], outcomes: Any, *, ordered: bool, max_attempts: int = 3):
    """Drive ``_SendPlan`` against a simulated SNS that answers each entry with ``outcomes()``.

    Like SNS, it handles a request's entries in order and answers each on its own
    (or rejects the whole request); returns the plan and the publish log.
    """
    formatted = [({"Id": str(i), "Message": "{}", **({"MessageGroupId": g} if ordered else {})}, 10)
                 for i, g in enumerate(groups)]
    plan = _SendPlan(formatted, ordered=ordered, max_attempts=max_attempts)
    published: list[int] = []
    requests: list[list[int]] = []
    while True:
        chunk = plan.next_chunk()
        if chunk is None:
            if not plan.release_retries()[1]:
                return plan, published, requests
            continue
        indexes = [int(e["Id"]) for e in chunk.entries]
        requests.append(indexes)
        assert len(indexes) <= 10
        if outcomes() == "reject request":
            plan.settle(chunk, {i: (RESEND, "Throttling") for i in indexes})
            continue
        results = {}
        for index in indexes:
            status = outcomes()
            if status in (SENT, "reject request"):
                published.append(index)
                results[index] = (SENT, f"id-{index}")
            else:
                results[index] = (status, status)
        plan.settle(chunk, results)


outcome_lists = st.lists(st.sampled_from([SENT] * 6 + [RETRY, FAILED, "reject request"]), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(group_of=st.lists(st.sampled_from("abc"), min_size=1, max_size=35), answers=outcome_lists)
def test_send_plan_never_publishes_a_group_out_of_order(group_of, answers):
    """Whatever SNS answers, each group's published entries are in input order, each published once,
    none after an entry of its group that is reported failed; every entry is accounted for."""
    cycle = iter(answers * 1000)
    plan, published, requests = run_plan(group_of, lambda: next(cycle), ordered=True)

    assert sorted(published) == sorted(plan.message_ids)  # published once each, and reported
    assert set(plan.message_ids).isdisjoint(plan.failed)
    assert set(plan.message_ids) | set(plan.failed) == set(range(len(group_of)))
    for group in "abc":
        sent = [i for i in published if group_of[i] == group]
        assert sent == sorted(sent)
        failed = [i for i in plan.failed if group_of[i] == group]
        if failed:
            assert not [i for i in sent if i > min(failed) and i in plan.held_back]
            assert all(i > min(failed) for i in plan.held_back if group_of[i] == group)
    for indexes in requests:  # a group is never in two requests at once, nor twice out of order
        for group in "abc":
            run = [i for i in indexes if group_of[i] == group]
            assert run == sorted(run)


def test_send_plan_without_failures_chunks_in_input_order():
    plan, published, requests = run_plan(list("ab" * 12 + "c"), lambda: SENT, ordered=True)

    assert requests == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    assert published == list(range(25)) and not plan.failed


def test_send_plan_on_a_standard_topic_holds_nothing_back():
    answers = iter([SENT, RETRY] + [SENT] * 30)  # the request goes through, SNS fails entry 0
    plan, published, requests = run_plan(["-"] * 12, lambda: next(answers), ordered=False)

    assert requests == [list(range(10)), [10, 11], [0]]
    assert sorted(published) == list(range(12)) and not plan.failed


def test_standard_topic_still_retries_failed_entries_after_the_rest(boto_client, topic, envelope_queue, probe):
    """No message groups, no order to keep: the other entries are not held back behind a retry."""
    probe.fail({3}, times=1)

    fast(topic).publish([{"content": {"i": i}} for i in range(15)])

    assert sorted(probe.batch_sizes[:2]) == [5, 10] and probe.batch_sizes[2:] == [1]
    assert sorted(json.loads(e["Message"])["i"] for e in envelopes(boto_client, envelope_queue)) == list(range(15))


# --- threads ---


def test_publishers_in_many_threads_share_one_client_and_keep_their_states(
    boto_client, topic, envelope_queue, make_state
):
    aws.reset_clients()
    start = threading.Barrier(12)
    clients, errors = [], []

    def publish(n: int) -> None:
        try:
            publisher = SNSPublisher(topic)
            start.wait()
            with state_scope(make_state(f"p{n}")):
                clients.append(publisher.sns_client)
                publisher.publish([{"content": {"n": n, "k": k}} for k in range(2)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len({id(c) for c in clients}) == 1
    received = envelopes(boto_client, envelope_queue)
    assert len(received) == 24
    for envelope in received:
        n = json.loads(envelope["Message"])["n"]
        assert envelope["MessageAttributes"]["constitution-state"]["Value"] == make_state(f"p{n}")


# --- concurrent requests (issue 15) ---


@pytest.fixture
def in_flight(aws):
    """20 ms per SNS call on the library's client, and the calls in flight counted (``InFlight``)."""
    with InFlight(aws_client_for_sns(), ("Publish", "PublishBatch")) as counter:
        yield counter


@pytest.fixture
def concurrency_probe(in_flight, probe):
    """The fault probe, registered after ``in_flight`` (which counts every call, also the faked ones)."""
    return probe


def sent_ids(in_flight: InFlight) -> dict[str, Any]:
    """Message id -> the content of the entry SNS accepted under it (every list of the test)."""
    return {message_id: json.loads(entry["Message"]) for entry, message_id in in_flight.sent}


@pytest.mark.parametrize("bound", [3, 8])
def test_requests_of_one_list_overlap_within_the_bound_and_ids_stay_in_input_order(topic, in_flight, bound):
    messages = [{"content": {"i": i}} for i in range(150)]

    ids = SNSPublisher(topic, max_concurrency=bound).publish(messages)

    assert 1 < in_flight.peak <= bound
    assert len(in_flight.calls) == 15
    content_of = sent_ids(in_flight)
    assert [content_of[message_id]["i"] for message_id in ids] == list(range(150))


def test_max_concurrency_1_sends_one_request_at_a_time_from_the_callers_thread(topic, in_flight):
    SNSPublisher(topic, max_concurrency=1).publish([{"content": {"i": i}} for i in range(30)])

    assert in_flight.peak == 1
    assert in_flight.threads == {threading.current_thread().name}


@pytest.mark.parametrize("bound", [0, 65, True, 2.5, "8"])
def test_max_concurrency_out_of_range_is_refused(bound):
    with pytest.raises(ValueError, match="max_concurrency"):
        SNSPublisher("arn:aws:sns:us-east-2:123456789012:t", max_concurrency=bound)


def test_pool_threads_send_in_the_callers_state_and_what_they_set_does_not_leak(
    boto_client, topic, envelope_queue, in_flight, make_state
):
    """The entries are formatted in the caller's thread, and each request runs in a copy of its context."""
    ohio = make_state("ohio")

    def set_another_state(**_: Any) -> None:  # a hook in a pool thread changes the state: its copy only
        state_scope(make_state("texas")).__enter__()

    events = aws_client_for_sns().meta.events
    events.register("before-send.sns.PublishBatch", set_another_state, unique_id="state-leak")
    try:
        with state_scope(ohio):
            SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(50)])
            assert get_state() == ohio
    finally:
        events.unregister("before-send.sns.PublishBatch", unique_id="state-leak")

    assert any(name.startswith(POOL_THREAD_PREFIX) for name in in_flight.threads)
    assert {state for _, state in in_flight.calls} == {ohio}
    received = envelopes(boto_client, envelope_queue)
    assert len(received) == 50
    assert {e["MessageAttributes"]["constitution-state"]["Value"] for e in received} == {ohio}


def test_fifo_groups_go_concurrently_each_in_order_through_throttling_and_failures(fifo_raw, concurrency_probe,
                                                                                   in_flight):
    """Six groups of 15 (g0 = 0-14, g1 = 15-29, ...): their first requests overlap. g2's first request
    is throttled once (sent again whole), g3's 54 (the last of its first request) fails once (sent again
    alone, then 55-59), g4's 69 fails for good: 70-74 are never sent, and are reported."""
    probe = concurrency_probe
    probe.throttle(30, times=1)
    probe.fail({54}, times=1)
    probe.fail({69}, times=-1, sender_fault=True)

    with pytest.raises(PublishBatchError) as caught:
        SNSPublisher(fifo_raw.topic, backoff_seconds=0.01).publish(fifo_messages(lambda i: f"g{i // 15}", 90))

    error = caught.value
    assert 1 < in_flight.peak <= 8
    delivered = fifo_raw.received()
    for group in range(6):
        expected = list(range(group * 15, group * 15 + 15))
        if group == 4:
            expected = list(range(60, 69))
        assert in_group(delivered, f"g{group}") == expected
    assert sorted(error.failed) == list(range(69, 75))
    assert "InvalidParameter" in error.failed[69]
    assert all(error.failed[i] == "not sent: an earlier entry (69) of message group 'g4' failed"
               for i in range(70, 75))
    assert sorted(error.message_ids) == sorted(set(range(90)) - set(range(69, 75)))
    sent = [int(e) for e in probe.batch_sizes]
    assert sum(sent) == 90 + 10 + 1 - 5  # every entry once, g2's first 10 twice, 54 twice, 70-74 never


def test_many_threads_publish_lists_at_once_each_message_in_its_own_threads_state(topic, in_flight, make_state):
    """12 threads share one publisher (and the one send pool): 35 messages each, in 4 requests;
    every entry SNS accepted carries its own thread's state, and each thread gets its own ids back."""
    publisher = SNSPublisher(topic)
    results: dict[int, list[str]] = {}

    def publish(n: int) -> None:
        with state_scope(make_state(f"p{n}")):
            results[n] = publisher.publish([{"content": {"n": n, "k": k}} for k in range(35)])
            assert get_state() == make_state(f"p{n}")

    assert run_together(publish, 12) == []
    assert 1 < in_flight.pool_peak <= 8  # one pool for the process: 8 in flight from it at most, all threads
    assert len(in_flight.sent) == 12 * 35
    by_id = {}
    for entry, message_id in in_flight.sent:
        content = json.loads(entry["Message"])
        assert entry["MessageAttributes"]["constitution-state"]["StringValue"] == make_state(f"p{content['n']}")
        by_id[message_id] = (content["n"], content["k"])
    for n, ids in results.items():
        assert [by_id[message_id] for message_id in ids] == [(n, k) for k in range(35)]


def test_an_unexpected_error_of_one_request_is_raised_after_the_others_are_answered(topic, in_flight):
    def explode(params: dict[str, Any], **_: Any) -> None:
        if params["PublishBatchRequestEntries"][0]["Id"] == "20":
            raise RuntimeError("a hook broke")

    events = aws_client_for_sns().meta.events
    events.register("provide-client-params.sns.PublishBatch", explode, unique_id="explode")
    try:
        with pytest.raises(RuntimeError, match="a hook broke"):
            SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(100)])
    finally:
        events.unregister("provide-client-params.sns.PublishBatch", unique_id="explode")

    assert in_flight.now == 0  # nothing of that publish still in flight when it raised
    assert len(SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(30)])) == 30


def test_a_hook_that_publishes_from_a_pool_thread_does_not_deadlock_the_pool(boto_client, topic, unique):
    """A botocore hook (in a send pool thread) that publishes a list sends it from its own thread."""
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-audit")
    audit = SQSPublisher(url)

    all_in_hooks = threading.Barrier(8, timeout=5)  # the 8 requests' hooks hold all 8 pool threads at once

    def audit_request(params: dict[str, Any], **_: Any) -> None:
        all_in_hooks.wait()
        audit.send([{"content": {"first": e["Id"], "k": k}} for e in params["PublishBatchRequestEntries"][:1]
                    for k in range(11)])

    events = aws_client_for_sns().meta.events
    events.register("provide-client-params.sns.PublishBatch", audit_request, unique_id="audit")
    done: list[Any] = []
    try:
        thread = threading.Thread(target=lambda: done.append(
            SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(80)])))
        thread.start()
        thread.join(30)
    finally:
        events.unregister("provide-client-params.sns.PublishBatch", unique_id="audit")

    assert not thread.is_alive(), "deadlocked"
    assert len(done[0]) == 80
    assert len(receive_all(sqs, url)) == 8 * 11


def test_a_larger_bound_gets_a_larger_pool(topic, monkeypatch):
    monkeypatch.setattr(batching._SENDS, "current", (None, 0))  # this test's pools only (restored after it)
    with InFlight(aws_client_for_sns(), ("PublishBatch",)) as counter:
        SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(200)])
        first = batching.send_pool(1)
        SNSPublisher(topic, max_concurrency=12).publish([{"content": {"i": i}} for i in range(200)])

    assert first._max_workers == 8
    assert batching.send_pool(1)._max_workers == 12
    assert 8 < counter.pool_peak <= 12


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_publishes_concurrently_on_a_pool_of_its_own(topic, in_flight):
    """The parent's pool has threads (and its lock is held by a thread at the fork): the child's list goes out."""
    SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(50)])  # the parent's pool, warm

    def child() -> None:
        with InFlight(aws.aws_client("sns", "us-east-2"), ("PublishBatch",)) as counter:
            ids = SNSPublisher(topic).publish([{"content": {"i": i}} for i in range(50)])
        assert len(set(ids)) == 50
        assert counter.pool_peak > 1

    assert fork_while_held(batching._SENDS.lock, child) == 0
