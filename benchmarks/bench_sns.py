"""SNS: ``publish(list)`` (PublishBatch, 10 per request) vs one ``Publish`` per message.

Both go through SNSPublisher and the same cached boto3 client, to a moto
server (AWS_ENDPOINT_URL when set, else a ThreadedMotoServer started here).
moto is not a performance reference for AWS; what the ratio shows is the
request count: 100 round trips instead of 1,000. Goal: at least 5x faster.

    python benchmarks/bench_sns.py [--messages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import time
import uuid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_REGION": "us-east-2"}.items():
        os.environ.setdefault(name, value)
    with contextlib.ExitStack() as stack:
        if not os.environ.get("AWS_ENDPOINT_URL"):
            from aws_helper_sync.devservers import MotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

            os.environ["AWS_ENDPOINT_URL"] = stack.enter_context(MotoServer()).endpoint_url
            where = "moto (started by the benchmark)"
        else:
            where = os.environ["AWS_ENDPOINT_URL"]

        from aws_helper_sync import SNSPublisher, state_scope
        from aws_helper_sync.aws import aws_client

        sns = aws_client("sns")
        topic = sns.create_topic(Name=f"bench-{uuid.uuid4().hex[:8]}")["TopicArn"]
        stack.callback(sns.delete_topic, TopicArn=topic)
        publisher = SNSPublisher(topic)
        messages = [
            {"content": {"parcel": i, "title": "x" * 200}, "attributes": {"kind": "title"}}
            for i in range(args.messages)
        ]

        def batch() -> None:
            ids = publisher.publish(messages)
            assert len(ids) == len(messages)

        def one_by_one() -> None:
            for message in messages:
                publisher.publish(message)

        with state_scope("connecticut"):
            publisher.publish(messages[:10])  # warm-up: client, connection pool
            samples: dict[str, list[float]] = {"batch": [], "single": []}
            for _ in range(args.rounds):
                for name, fn in (("batch", batch), ("single", one_by_one)):
                    start = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - start)

    batch_s, single_s = (statistics.median(samples[k]) for k in ("batch", "single"))
    requests = -(-args.messages // 10)
    print(f"SNS publish of {args.messages} messages (~0.25 KiB each, 2 attributes), median of {args.rounds} rounds")
    print(f"endpoint: {where}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs\n")
    print(f"{'variant':36} {'requests':>9} {'wall ms':>9} {'msg/s':>9} {'speed-up':>9}")
    for label, seconds, count in [
        ("publish(list) -> PublishBatch", batch_s, requests),
        ("publish(dict) per message -> Publish", single_s, args.messages),
    ]:
        print(f"{label:36} {count:9d} {seconds * 1000:9.1f} {args.messages / seconds:9.0f} "
              f"{single_s / seconds:9.2f}")
    verdict = "met" if single_s / batch_s >= 5 else "NOT met"
    print(f"\nbatch speed-up = {single_s / batch_s:.2f}x (goal >= 5x: {verdict})")


if __name__ == "__main__":
    main()
