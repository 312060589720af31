"""AWS misbehaves: throttling, a call that stays throttled, a server that goes away.

Faults are injected where a real one happens: a botocore ``before-send`` hook
on the library's own cached client answers chosen calls with an HTTP error
instead of sending them, inside botocore's retry loop (``HttpFault``); or the
moto server itself is stopped. The messages that did go out are then counted
on real queues: a retried call must deliver each message exactly once.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs

import pytest
from botocore.exceptions import EndpointConnectionError

from aws_helper_sync import FargateExecutor, SNSPublisher, SQSPublisher, state_scope
from aws_helper_sync import aws as aws_module
from aws_helper_sync.aws import aws_client
from aws_helper_sync.devservers import MotoServer
from aws_helper_sync.sns.publisher import PublishBatchError
from aws_helper_sync.sqs.worker import SQSWorker
from tests.reliability_support import (
    HttpFault,
    free_port,
    report,
    use_reliability_app,
    wait_for,
)
from tests.sqs_support import (
    create_queue,
    queue_depth,
    receive_all,
    receive_fifo_in_order,
    subscribe_queue,
)


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


@pytest.fixture
def topic_with_queue(boto_client, unique):
    """A topic and one queue subscribed with the SNS envelope (its MessageId is SNS's)."""
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-faults")["TopicArn"]
    url = create_queue(sqs, f"{unique}-faults")
    subscribe_queue(sns, sqs, topic, url, raw=False)
    return topic, lambda: [json.loads(m["Body"]) for m in receive_all(sqs, url)]


@pytest.fixture
def fresh_clients():
    """Library clients created for this test (after its environment changes) and dropped after it."""
    aws_module.reset_clients()
    yield
    aws_module.reset_clients()


@pytest.fixture
def default_retries(monkeypatch, fresh_clients):
    """botocore's default retry policy of the installed version, whatever the shell sets."""
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    aws_module.reset_clients()


def request_text(request) -> str:
    body = request.body
    return body.decode() if isinstance(body, (bytes, bytearray)) else (body or "")


def test_throttled_publish_is_retried_and_delivered_once(topic_with_queue, make_state, default_retries):
    topic, delivered = topic_with_queue
    publisher = SNSPublisher(topic)

    with HttpFault(aws_client("sns"), "Publish", lambda call, _: call <= 2) as fault, \
            state_scope(make_state("ohio")):
        message_id = publisher.publish({"content": {"parcel": 1}})

    envelopes = delivered()
    report("aws-faults", "Publish throttled on the first 2 calls",
           faults_injected=fault.faults, calls=fault.calls, delivered=len(envelopes))
    assert (fault.faults, fault.calls) == (2, 3)
    assert [e["MessageId"] for e in envelopes] == [message_id]
    assert json.loads(envelopes[0]["Message"]) == {"parcel": 1}


def test_throttled_publish_batch_is_retried_and_every_message_delivered_once(
    topic_with_queue, make_state, default_retries
):
    topic, delivered = topic_with_queue
    publisher = SNSPublisher(topic)

    with HttpFault(aws_client("sns"), "PublishBatch", lambda call, _: call <= 3) as fault, \
            state_scope(make_state("utah")):
        ids = publisher.publish([{"content": {"n": n}} for n in range(25)])

    envelopes = delivered()
    report("aws-faults", "PublishBatch (25 messages, 3 requests) throttled on the first 3 calls",
           faults_injected=fault.faults, calls=fault.calls, delivered=len(envelopes),
           duplicates=len(envelopes) - len({e["MessageId"] for e in envelopes}))
    assert fault.faults == 3
    assert len(ids) == len(set(ids)) == 25
    assert sorted(e["MessageId"] for e in envelopes) == sorted(ids)
    by_id = {e["MessageId"]: json.loads(e["Message"]) for e in envelopes}
    assert [by_id[i] for i in ids] == [{"n": n} for n in range(25)]  # ids in input order


def test_a_chunk_that_stays_throttled_is_reported_by_index_and_the_rest_goes_out(
    topic_with_queue, make_state, monkeypatch, fresh_clients
):
    topic, delivered = topic_with_queue
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore gives up after one retry
    aws_module.reset_clients()
    publisher = SNSPublisher(topic)

    def second_chunk(_, request) -> bool:  # entries 10-19 travel in the second PublishBatch
        return parse_qs(request_text(request)).get("PublishBatchRequestEntries.member.1.Id") == ["10"]

    with HttpFault(aws_client("sns"), "PublishBatch", second_chunk) as fault, \
            state_scope(make_state("iowa")), pytest.raises(PublishBatchError) as raised:
        publisher.publish([{"content": {"n": n}} for n in range(25)])

    error = raised.value
    envelopes = delivered()
    report("aws-faults", "PublishBatch: entries 10-19 throttled on every attempt",
           faults_injected=fault.faults, failed_indexes=f"{min(error.failed)}-{max(error.failed)}",
           published=len(error.message_ids), delivered=len(envelopes))
    assert sorted(error.failed) == list(range(10, 20))
    assert all("Throttling" in reason for reason in error.failed.values())
    assert sorted(error.message_ids) == [*range(10), *range(20, 25)]
    assert "10 of 25 messages were not published" in str(error) and "[10]" in str(error)
    assert sorted(e["MessageId"] for e in envelopes) == sorted(error.message_ids.values())
    assert sorted(json.loads(e["Message"])["n"] for e in envelopes) == sorted(error.message_ids)


@pytest.fixture
def fifo_topic_with_queue(boto_client, unique, monkeypatch, fresh_clients):
    """A FIFO topic -> FIFO queue (raw delivery), read back in delivery order as (group, n).

    botocore's own retries are off (AWS_MAX_ATTEMPTS=1), so a throttled call comes
    back to the publisher, whose retry rounds must keep each message group in order.
    """
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-order.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = create_queue(sqs, f"{unique}-order.fifo")
    subscribe_queue(sns, sqs, topic, url, raw=True)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws_module.reset_clients()
    return topic, lambda: [(m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["n"])
                           for m in receive_fifo_in_order(sqs, url)]


def fifo_messages(groups: list[str]) -> list[dict]:
    return [{"content": {"n": n}, "group_id": group, "deduplication_id": f"d{n}"} for n, group in enumerate(groups)]


def first_entry_is(entry_id: str):
    """A fault predicate: the PublishBatch request whose first entry has this Id."""
    return lambda _, request: parse_qs(request_text(request)).get("PublishBatchRequestEntries.member.1.Id") == [entry_id]


def test_fifo_group_throttled_first_publish_batch_is_received_in_order(fifo_topic_with_queue, make_state):
    topic, delivered = fifo_topic_with_queue
    publisher = SNSPublisher(topic, backoff_seconds=0.01)

    with HttpFault(aws_client("sns"), "PublishBatch", lambda call, _: call == 1) as fault, \
            state_scope(make_state("ohio")):
        ids = publisher.publish(fifo_messages(["g"] * 15))

    received = delivered()
    order = [n for _, n in received]
    report("aws-faults", "FIFO topic, 15 messages of one group, first PublishBatch throttled (botocore retries off)",
           faults_injected=fault.faults, calls=fault.calls, published=len(ids), received=len(received),
           received_order="0..14" if order == list(range(15)) else order)
    assert fault.faults == 1
    assert received == [("g", n) for n in range(15)]
    assert len(set(ids)) == 15


def test_fifo_group_whose_first_request_stays_throttled_sends_none_of_its_later_entries(
    fifo_topic_with_queue, make_state
):
    topic, delivered = fifo_topic_with_queue
    publisher = SNSPublisher(topic, backoff_seconds=0.01, max_attempts=2)

    with HttpFault(aws_client("sns"), "PublishBatch", first_entry_is("0")) as fault, \
            state_scope(make_state("iowa")), pytest.raises(PublishBatchError) as raised:
        publisher.publish(fifo_messages(["g"] * 15 + ["h"] * 5))

    error = raised.value
    received = delivered()
    report("aws-faults", "FIFO topic, group g (0-14) and h (15-19), the request with g's 0-9 throttled on every attempt",
           faults_injected=fault.faults, failed_indexes=f"{min(error.failed)}-{max(error.failed)}",
           received_g=sum(1 for g, _ in received if g == "g"),
           received_h=[n for g, n in received if g == "h"])
    assert fault.faults == 2
    assert sorted(error.failed) == list(range(15))
    assert all("Throttling" in error.failed[n] for n in range(10))
    assert all("earlier entry (0) of message group 'g' failed" in error.failed[n] for n in range(10, 15))
    assert sorted(error.message_ids) == list(range(15, 20))
    assert received == [("h", n) for n in range(15, 20)]


PUBLISH_BATCH_ALL_FAILED = (
    '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
    "<Successful/><Failed>{members}</Failed></PublishBatchResult>"
    "<ResponseMetadata><RequestId>injected</RequestId></ResponseMetadata></PublishBatchResponse>"
)


def test_entries_that_sns_fails_on_its_side_are_retried_by_the_publisher(
    topic_with_queue, make_state, default_retries
):
    """A 200 answer listing every entry as Failed (SenderFault false): nothing went out, retry them."""
    from botocore.awsrequest import AWSResponse

    topic, delivered = topic_with_queue
    answered = []

    def fail_every_entry_once(request, **_):
        if answered:
            return None
        fields = parse_qs(request_text(request))
        ids = [v[0] for k, v in sorted(fields.items()) if k.endswith(".Id")]
        members = "".join(
            f"<member><Id>{i}</Id><Code>InternalError</Code><Message>try again</Message>"
            "<SenderFault>false</SenderFault></member>" for i in ids
        )
        answered.append(ids)
        response = AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, None)
        response._content = PUBLISH_BATCH_ALL_FAILED.format(members=members).encode()
        return response

    events = aws_client("sns").meta.events
    events.register("before-send.sns.PublishBatch", fail_every_entry_once, unique_id="entries-failed")
    try:
        with state_scope(make_state("utah")):
            ids = SNSPublisher(topic, backoff_seconds=0.01).publish([{"content": {"n": n}} for n in range(5)])
    finally:
        events.unregister("before-send.sns.PublishBatch", unique_id="entries-failed")

    envelopes = delivered()
    report("aws-faults", "PublishBatch answered with every entry Failed (SenderFault false) once",
           entries_failed_by_sns=len(answered[0]), delivered=len(envelopes))
    assert sorted(answered[0]) == ["0", "1", "2", "3", "4"]
    assert sorted(e["MessageId"] for e in envelopes) == sorted(ids)


@pytest.fixture
def own_moto(aws, monkeypatch, fresh_clients):
    """A moto server of this test on a fixed port, with the library pointed at it.

    moto keeps its state in-process, so a server started again on the same port
    sees what the stopped one had (and the session fixture's reset cleans it).
    """
    server = MotoServer(port=free_port()).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # connection refused: fail fast, after one retry
    aws_module.reset_clients()
    try:
        yield server
    finally:
        server.stop()


def raw_client(server: MotoServer, service: str):
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name="us-east-2", endpoint_url=server.endpoint_url,
                        config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def own_ecs(own_moto):
    """A cluster, the ``canary`` task definition and the default VPC's network on ``own_moto``."""
    ec2, ecs = raw_client(own_moto, "ec2"), raw_client(own_moto, "ecs")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    ecs.create_cluster(clusterName="reliability")
    ecs.register_task_definition(
        family="canary", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "canary", "image": "app:latest", "memory": 512}],
    )
    executor = FargateExecutor(cluster="reliability", subnets=[subnet["SubnetId"]], security_groups=[group])
    return own_moto, executor, ecs


def test_moto_stopped_during_run_task_gives_a_clear_error_and_starts_nothing(own_ecs, make_state):
    server, executor, ecs = own_ecs
    state = make_state("ohio")
    with state_scope(state):
        first = executor.run_task("canary", {"n": 1})

    def stop_the_server(**_):  # the request is built and signed; the server goes away now
        server.stop()

    events = executor.client.meta.events
    events.register("before-send.ecs.RunTask", stop_the_server, unique_id="stop-moto")
    try:
        with state_scope(state), pytest.raises(EndpointConnectionError) as raised:
            executor.run_task("canary", {"n": 2})
    finally:
        events.unregister("before-send.ecs.RunTask", unique_id="stop-moto")
    with state_scope(state):
        batch = executor.run_task_batch("canary", [{"n": 3}, {"n": 4}])

    server.start()  # same port, same in-process state
    tasks_after_outage = ecs.list_tasks(cluster="reliability")["taskArns"]
    with state_scope(state):
        after = executor.run_task("canary", {"n": 5})
    tasks = ecs.describe_tasks(cluster="reliability", tasks=ecs.list_tasks(cluster="reliability")["taskArns"])
    sent = sorted(
        next(e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"] if e["name"] == "N")
        for task in tasks["tasks"]
    )

    report("aws-faults", "moto stopped during FargateExecutor.run_task",
           error=type(raised.value).__name__, run_task_batch_while_down=batch,
           tasks_after_outage=len(tasks_after_outage), tasks_after_restart=len(tasks["tasks"]))
    assert server.endpoint_url in str(raised.value)  # names what could not be reached
    assert batch == [None, None]
    assert tasks_after_outage == [first]  # nothing half-started by the failed calls
    assert sent == ["1", "5"]
    assert after != first


def test_worker_rides_out_an_sqs_outage_and_loses_nothing(
    own_moto, reliability_app, mongo_client, unique, make_state
):
    sqs = raw_client(own_moto, "sqs")
    url = create_queue(sqs, f"{unique}-outage")
    state = make_state("ohio")

    def send_wave(first: int) -> None:
        for n in range(first, first + 5):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"uid": f"{unique}-{n}", "fault": None}),
                             MessageAttributes={"constitution-state": {"DataType": "String", "StringValue": state}})

    def written() -> set[str]:
        return {doc["_id"] for doc in mongo_client[state]["ledger"].find()}

    worker = SQSWorker("ledger", url, wait_time_seconds=1, handle_signals=False, max_backoff_seconds=0.5)
    thread = threading.Thread(target=worker.run, name="outage-worker")
    thread.start()
    try:
        send_wave(0)
        # the first wave is written *and* deleted before SQS goes away: a delete lost to
        # the outage would (rightly) bring its message back and write it twice
        wait_for(lambda: len(written()) == 5 and worker.stats.deleted == 5, 30,
                 lambda: f"written {sorted(written())}, {worker.stats}")
        own_moto.stop()
        wait_for(lambda: worker.stats.receive_errors >= 2, 30, lambda: f"{worker.stats}")
        alive_during_outage = thread.is_alive()
        own_moto.start()
        send_wave(5)
        wait_for(lambda: len(written()) == 10, 30, lambda: f"written {sorted(written())}, {worker.stats}")
    finally:
        worker.stop()
        thread.join(30)

    documents = list(mongo_client[state]["ledger"].find())
    report("aws-faults", "moto stopped while an SQSWorker long-polls, then started again",
           messages=10, receive_errors_during_outage=worker.stats.receive_errors,
           worker_alive_during_outage=alive_during_outage, written=len(documents),
           deleted=worker.stats.deleted, left_in_queue=sum(queue_depth(sqs, url)))
    assert alive_during_outage
    assert sorted(d["_id"] for d in documents) == sorted(f"{unique}-{n}" for n in range(10))
    assert {d["writes"] for d in documents} == {1}
    assert worker.stats.deleted == 10
    assert queue_depth(sqs, url) == (0, 0)


def test_sqs_publisher_throttled_batches_reach_a_fifo_queue_once_each_in_group_order(
    boto_client, unique, monkeypatch, fresh_clients, make_state
):
    """SQSPublisher shares the SNS publisher's plan: throttled SendMessageBatch calls (botocore retries off)
    are sent again whole, and each message group of a FIFO queue arrives once each, in input order."""
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-direct.fifo")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws_module.reset_clients()
    groups = ["g" if n % 3 else "h" for n in range(25)]
    messages = [{"content": {"n": n}, "group_id": g, "deduplication_id": f"d{n}"} for n, g in enumerate(groups)]

    with HttpFault(aws_client("sqs"), "SendMessageBatch", lambda call, _: call in (1, 3),
                   code="RequestThrottled") as fault, state_scope(make_state("ohio")):
        ids = SQSPublisher(url, backoff_seconds=0.01).send(messages)

    received = [(m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["n"],
                 m["MessageAttributes"]["constitution-state"]["StringValue"]) for m in receive_fifo_in_order(sqs, url)]
    in_order = all([n for g, n, _ in received if g == k] == [n for n, g in enumerate(groups) if g == k]
                   for k in "gh")
    report("aws-faults", "SQSPublisher, FIFO queue, 25 messages in 2 groups, SendMessageBatch calls 1 and 3 "
           "throttled (botocore retries off)",
           faults_injected=fault.faults, calls=fault.calls, sent=len(set(ids)), received=len(received),
           groups_in_input_order=in_order, state_attribute_on_all=all(s == make_state("ohio") for *_, s in received))
    assert fault.faults == 2
    assert len(set(ids)) == 25 and len(received) == 25
    assert in_order
