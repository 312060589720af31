"""SNS: ``publish(list)`` with its PublishBatch requests concurrent vs one after the other.

Both variants go through SNSPublisher and the same cached boto3 client, to a
moto server (AWS_ENDPOINT_URL when set, else a ThreadedMotoServer started here),
with ``--latency-ms`` (default 20) added to every request by a botocore
``before-send`` hook that sleeps: the round trip a real SNS endpoint costs,
which moto on loopback does not. "sequential" is ``max_concurrency=1`` (the
requests one after the other, as before issue 15); "concurrent" the default
(8 in flight). Rounds are interleaved and medians reported, so both variants
see the same machine load. Goal (issue 15): concurrent >= 3x faster than
sequential for 1,000 messages.

``--sweep`` also times ``max_concurrency`` 2, 4 and 16 (why 8 is the default).
``--single`` adds ``publish(dict)`` per message (1 request per message: slow
with latency; only at 0 ms by default it is quick).

moto is not a performance reference for AWS; what the ratio shows is how much
of the request latency the concurrent sends hide, with the client's own work
(serializing, signing, parsing; and here also moto's, in the same process)
left on one GIL.

    python benchmarks/bench_sns.py [--messages 1000] [--rounds 5] [--latency-ms 20] [--sweep]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from typing_extensions import Self

GOAL = 3.0


class Latency:
    """Sleeps ``seconds`` before every request of ``client`` is sent, and counts requests in flight."""

    def __init__(self, client: Any, seconds: float) -> None:
        self.client, self.seconds = client, seconds
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> Self:
        events = self.client.meta.events
        events.register("before-send.sns", self._before_send, unique_id="bench-latency")
        events.register("after-call.sns", self._after_call, unique_id="bench-latency-done")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("before-send.sns", unique_id="bench-latency")
        self.client.meta.events.unregister("after-call.sns", unique_id="bench-latency-done")

    def _before_send(self, **_: Any) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.seconds)

    def _after_call(self, **_: Any) -> None:
        with self.lock:
            self.in_flight -= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every request (default 20)")
    parser.add_argument("--sweep", action="store_true", help="also max_concurrency 2, 4 and 16")
    parser.add_argument("--single", action="store_true", help="also publish(dict) per message")
    args = parser.parse_args()

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_REGION": "us-east-2"}.items():
        os.environ.setdefault(name, value)
    with contextlib.ExitStack() as stack:
        if not os.environ.get("AWS_ENDPOINT_URL"):
            from aws_helper_sync.devservers import MotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

            os.environ["AWS_ENDPOINT_URL"] = stack.enter_context(MotoServer()).endpoint_url
            where = "moto (started by the benchmark, in this process)"
        else:
            where = os.environ["AWS_ENDPOINT_URL"]

        from aws_helper_sync import SNSPublisher, state_scope
        from aws_helper_sync.aws import aws_client
        from aws_helper_sync.batching import DEFAULT_MAX_CONCURRENCY

        sns = aws_client("sns")
        topic = sns.create_topic(Name=f"bench-{uuid.uuid4().hex[:8]}")["TopicArn"]
        stack.callback(sns.delete_topic, TopicArn=topic)
        messages = [
            {"content": {"parcel": i, "title": "x" * 200}, "attributes": {"kind": "title"}}
            for i in range(args.messages)
        ]
        bounds = [1, DEFAULT_MAX_CONCURRENCY] + ([2, 4, 16] if args.sweep else [])
        publishers = {bound: SNSPublisher(topic, max_concurrency=bound) for bound in bounds}
        latency = stack.enter_context(Latency(sns, args.latency_ms / 1000))

        def batch(bound: int) -> Callable[[], None]:
            def run() -> None:
                ids = publishers[bound].publish(messages)
                assert len(ids) == len(messages)
            return run

        def one_by_one() -> None:
            for message in messages:
                publishers[1].publish(message)

        def label(bound: int) -> str:
            kind = "sequential" if bound == 1 else "concurrent" if bound == DEFAULT_MAX_CONCURRENCY else "sweep"
            return f"publish(list), max_concurrency={bound} ({kind})"

        variants: dict[str, tuple[Callable[[], None], int]] = {
            label(bound): (batch(bound), -(-args.messages // 10)) for bound in bounds}
        if args.single:
            variants["publish(dict) per message"] = (one_by_one, args.messages)
        peaks: dict[str, int] = {}
        samples: dict[str, list[float]] = {name: [] for name in variants}
        with state_scope("connecticut"):
            for bound in bounds:
                publishers[bound].publish(messages[:100])  # warm-up: client, connections, the pool
            for _ in range(args.rounds):
                for name, (fn, _) in variants.items():
                    latency.peak = 0
                    start = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - start)
                    peaks[name] = max(peaks.get(name, 0), latency.peak)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    sequential = medians[label(1)]
    print(f"SNS publish of {args.messages} messages (~0.25 KiB each, 2 attributes), {args.latency_ms:g} ms added "
          f"per request, median of {args.rounds} interleaved rounds")
    print(f"endpoint: {where}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs\n")
    print(f"{'variant':50} {'requests':>8} {'peak':>5} {'wall ms':>9} {'msg/s':>9} {'vs seq':>7}")
    for name, (_, count) in variants.items():
        seconds = medians[name]
        print(f"{name:50} {count:8d} {peaks[name]:5d} {seconds * 1000:9.1f} {args.messages / seconds:9.0f} "
              f"{sequential / seconds:7.2f}")
    ratio = sequential / medians[label(DEFAULT_MAX_CONCURRENCY)]
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"\n(peak: most requests in flight at once)\nconcurrent (max_concurrency={DEFAULT_MAX_CONCURRENCY}) vs "
          f"sequential = {ratio:.2f}x faster (goal >= {GOAL:g}x: {verdict})")


if __name__ == "__main__":
    main()
