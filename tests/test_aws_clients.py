"""The shared boto3 client cache under concurrent first use."""

from __future__ import annotations

import threading

from aws_helper_sync.aws import aws_client, reset_clients


def test_16_threads_get_one_client_per_service_and_region(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    reset_clients()
    barrier = threading.Barrier(16)
    seen: dict[int, list] = {i: [] for i in range(16)}
    errors = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            for service in ("sns", "sqs", "ecs"):
                seen[i].append(aws_client(service))
            seen[i].append(aws_client("sns", "eu-west-1"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    columns = list(zip(*seen.values()))
    assert [len({id(c) for c in column}) for column in columns] == [1, 1, 1, 1]
    sns, sqs, ecs, sns_eu = columns[0][0], columns[1][0], columns[2][0], columns[3][0]
    assert sns.meta.service_model.service_name == "sns" and sqs.meta.service_model.service_name == "sqs"
    assert ecs.meta.region_name == "us-east-2" and sns_eu.meta.region_name == "eu-west-1"
    assert sns.meta.endpoint_url == "http://127.0.0.1:9"
    reset_clients()


def test_region_defaults_follow_the_environment(monkeypatch):
    reset_clients()
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert aws_client("sqs").meta.region_name == "us-west-2"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert aws_client("sqs").meta.region_name == "us-east-2"
    reset_clients()
