"""``aws-helper-sync demo``: the land-records example, end to end, on local stand-ins.

    pip install 'aws-helper-sync[demo]' && aws-helper-sync demo     # or, in a checkout: -e '.[demo]'

Starts SecantusDB (in a temporary directory) and moto on 127.0.0.1, provisions
the SNS topic, the SQS queue subscribed to it, and an ECS cluster, then runs
every kind of entry point of ``examples/land_records`` through its real handler:

1. the API, served over HTTP by the local server: parcels posted and read
   back for two states (each POST publishes a ``parcel.recorded`` event);
2. the SQS worker with the batch consumer: drains the queue, one state group
   per state, each into its own database;
3. the standalone Lambda: an acreage report per state, stored in ``core``;
4. the Fargate task: launched through ``FargateExecutor`` (moto's ECS), then
   run here as its container would run it, with the environment ECS recorded.

Every step checks its outcome; the first failure stops the demo (exit 1).
Everything started is stopped and the temporary directory removed, whatever
happens. ``run()`` returns the numbers of the summary table.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

REGION = "us-east-2"
TOPIC_NAME = "parcel-events"
QUEUE_NAME = "parcel-events"
CLUSTER_NAME = "land-records"
TASK_NAME = "reindex"
CONSUMER_NAME = "parcel_events"
LAMBDA_NAME = "parcel_report"
STATE_COLLECTIONS = ("parcels", "parcel_history")
CORE_DATABASE, CORE_COLLECTION = "core", "parcel_reports"

PARCELS: dict[str, list[dict[str, Any]]] = {
    "connecticut": [
        {"parcel_id": "HFD-0001", "county": "Hartford", "owner": "Avery Holdings LLC", "acres": 2.5},
        {"parcel_id": "HFD-0002", "county": "Hartford", "owner": "J. Morales", "acres": 0.75},
        {"parcel_id": "NHV-0001", "county": "New Haven", "owner": "Elm City Land Trust", "acres": 12.0},
    ],
    "new_jersey": [
        {"parcel_id": "MER-0001", "county": "Mercer", "owner": "Princeton Farms LP", "acres": 48.2},
        {"parcel_id": "ESX-0001", "county": "Essex", "owner": "R. Okafor", "acres": 0.31},
    ],
}

# Variables the demo sets for its run, or removes so the user's shell cannot
# point it at real AWS or another database; all are restored afterwards.
_REMOVED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ALLOWED_STATES", "STATES_COLLECTION", "REQUIRE_AUTH", "MONGO_DB_URI",
                "EXTERNAL_MONGODB_CONNECTIONS", "ECS_SECURITY_GROUPS", "REPORTS_DATABASE")


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the step."""


@dataclass
class DemoSummary:
    """What the demo did; ``documents`` maps database -> collection -> count."""

    documents: dict[str, dict[str, int]] = field(default_factory=dict)
    parcels_posted: dict[str, int] = field(default_factory=dict)
    http_requests: dict[int, int] = field(default_factory=dict)  # status -> count
    messages_published: int = 0
    messages_processed: int = 0
    messages_failed: int = 0
    lambda_invocations: int = 0
    tasks_launched: int = 0
    task_exit_code: int | None = None
    seconds: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)
    servers: dict[str, Any] = field(default_factory=dict)  # what was started (all stopped at the end)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def default_app_root() -> Path:
    """The example app: the copy an installed wheel ships in the package, else
    ``examples/land_records`` of the source checkout this package runs from."""
    package = Path(__file__).resolve().parent
    packaged = package / "_example" / "land_records"
    if packaged.is_dir():
        return packaged
    return package.parent / "examples" / "land_records"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoError(message)


@contextlib.contextmanager
def _environment(values: dict[str, str], removed: tuple[str, ...]) -> Iterator[None]:
    """Set ``values`` and unset ``removed`` for the block; restore every one afterwards."""
    saved = {name: os.environ.get(name) for name in (*values, *removed)}
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _http(method: str, url: str, state: str | None = None, body: Any = None) -> tuple[int, Any]:
    """One real HTTP request; (status, parsed JSON body)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if state is not None:
        request.add_header("constitution-state", state)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    return status, json.loads(payload) if payload else None


class _Demo:
    """The steps of one run; an object only to share the servers and counters between them."""

    def __init__(self, app_root: Path, progress: Callable[[str], None]) -> None:
        self.app_root = app_root
        self.progress = progress
        self.summary = DemoSummary()
        self.states = list(PARCELS)
        self.queue_url = ""

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except DemoError as exc:
            self.progress(f"  FAIL  {name}: {exc}")
            raise DemoError(f"{name}: {exc}") from exc
        except Exception as exc:
            self.progress(f"  FAIL  {name}: {type(exc).__name__}: {exc}")
            raise DemoError(f"{name}: {type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - started
        self.summary.steps.append((name, round(seconds, 3)))
        self.progress(f"  ok    {name} ({seconds:.1f} s)")

    def run(self, stack: contextlib.ExitStack) -> None:
        from .devservers import MotoServer, SecantusServer

        with self.step("start SecantusDB (MongoDB wire protocol) in a temporary directory"):
            mongo = SecantusServer()
            stack.callback(mongo.stop)
            process = mongo.start().process
            assert process is not None  # start() returns with the server running
            self.summary.servers.update(mongo_pid=process.pid, mongo_data_dir=mongo.data_dir)
        self.progress(f"        SecantusDB pid {process.pid} on port {mongo.port}, data in {mongo.data_dir}")
        with self.step("start moto (AWS) on 127.0.0.1"):
            aws = MotoServer()
            stack.callback(aws.stop)
            aws.start()
            self.summary.servers["moto_url"] = aws.endpoint_url

        stack.enter_context(_environment({
            "MONGODB_URI": mongo.uri,
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "APP_ROOT": str(self.app_root),
        }, _REMOVED_ENV))
        self._use_fresh_clients(stack)

        with self.step("provision SNS topic, SQS queue + subscription, ECS cluster + task definition"):
            stack.enter_context(_environment(self.provision(), ()))
        with self.step("serve the example API over HTTP"):
            from .api.local_server import serve_api

            server = serve_api(self.app_root, port=0).start()
            stack.callback(server.stop)
            self.summary.servers["api_url"] = server.url
        from .context.registry import unguarded_warning

        warning = unguarded_warning()
        if warning:  # as `serve` does: the demo accepts any well-formed state
            self.progress(f"        WARNING: {warning}")
        with self.step(f"HTTP: post and read parcels for {' and '.join(self.states)}"):
            self.http_requests(server.url)
        with self.step("SQS worker: drain the queue with the batch consumer"):
            self.drain_queue()
        with self.step("Lambda: parcel report per state"):
            self.invoke_reports()
        with self.step("Fargate: launch the reindex task through FargateExecutor (moto ECS)"):
            environment = self.launch_task()
        with self.step("Fargate: run the task here with the environment ECS recorded"):
            self.run_task_locally(environment)
        with self.step("count documents per database"):
            self.count_documents()

    @staticmethod
    def _use_fresh_clients(stack: contextlib.ExitStack) -> None:
        """Make the process's MongoDB and AWS clients connect to the demo servers, now and after."""
        from .aws import reset_clients
        from .database import MongoManager

        def reset() -> None:
            MongoManager.close()
            reset_clients()

        reset()
        stack.callback(reset)

    # --- steps ---

    def provision(self) -> dict[str, str]:
        """Create the AWS resources; the environment variables that name them."""
        from .aws import aws_client

        sns, sqs, ecs, ec2 = (aws_client(s, REGION) for s in ("sns", "sqs", "ecs", "ec2"))
        topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        self.queue_url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Raw delivery: the constitution-state attribute arrives as an SQS message attribute.
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        ecs.create_cluster(clusterName=CLUSTER_NAME)
        ecs.register_task_definition(
            family=TASK_NAME, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{
                "name": TASK_NAME, "image": "land-records:latest", "memory": 512,
                "command": ["python", "-m", "aws_helper_sync.fargate"],
            }],
        )
        subnets = [s["SubnetId"] for s in ec2.describe_subnets(
            Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]]
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
        _check(bool(subnets) and bool(groups), "the default VPC has no subnet or security group")
        return {
            "PARCEL_EVENTS_TOPIC_ARN": topic_arn,
            "ECS_CLUSTER": CLUSTER_NAME,
            "ECS_SUBNETS": ",".join(subnets[:2]),
            "ECS_SECURITY_GROUPS": groups[0]["GroupId"],
        }

    def _request(self, method: str, url: str, state: str | None = None, body: Any = None) -> tuple[int, Any]:
        status, payload = _http(method, url, state, body)
        self.summary.http_requests[status] = self.summary.http_requests.get(status, 0) + 1
        return status, payload

    def http_requests(self, base_url: str) -> None:
        for state, parcels in PARCELS.items():
            for parcel in parcels:
                status, body = self._request("POST", f"{base_url}/parcels", state, parcel)
                _check(status == 201, f"POST /parcels {parcel['parcel_id']} in {state}: {status} {body}")
                _check(body["event_published"] is True, f"the event of {parcel['parcel_id']} was not published")
                self.summary.messages_published += 1
            self.summary.parcels_posted[state] = len(parcels)

            status, body = self._request("GET", f"{base_url}/parcels", state)
            listed = sorted(p["parcel_id"] for p in body["items"]) if status == 200 else None
            expected = sorted(p["parcel_id"] for p in parcels)
            _check(listed == expected, f"GET /parcels in {state}: {status}, {listed} instead of {expected}")

            first = parcels[0]
            status, body = self._request("GET", f"{base_url}/parcels/{first['parcel_id']}", state)
            _check(status == 200 and body["owner"] == first["owner"],
                   f"GET /parcels/{first['parcel_id']} in {state}: {status} {body}")

        # The refusals are part of the contract too.
        status, body = self._request("GET", f"{base_url}/parcels")
        _check(status == 400, f"GET /parcels without constitution-state: expected 400, got {status} {body}")
        other_state_parcel = PARCELS[self.states[1]][0]["parcel_id"]
        status, body = self._request("GET", f"{base_url}/parcels/{other_state_parcel}", self.states[0])
        _check(status == 404, f"another state's parcel must not be visible: expected 404, got {status} {body}")

    def drain_queue(self) -> None:
        from .aws import aws_client
        from .sqs.worker import SQSWorker

        stats = SQSWorker(CONSUMER_NAME, self.queue_url, wait_time_seconds=1, until_empty=True,
                          handle_signals=False).run()
        self.summary.messages_processed = stats.succeeded
        self.summary.messages_failed = stats.failed
        _check(stats.failed == 0 and stats.delete_failed == 0,
               f"{stats.failed} messages failed, {stats.delete_failed} deletes failed")
        _check(stats.succeeded == self.summary.messages_published,
               f"{stats.succeeded} messages processed, {self.summary.messages_published} published")
        attributes = aws_client("sqs", REGION).get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        left = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        _check(left == 0, f"{left} messages left in the queue")

    def invoke_reports(self) -> None:
        from .lambda_standalone.handler import lambda_handler

        handler = lambda_handler(LAMBDA_NAME)
        for state, parcels in PARCELS.items():
            result = handler({"constitution-state": state, "data": {}}, None)
            self.summary.lambda_invocations += 1
            _check(result.get("success") is True, f"{LAMBDA_NAME} in {state}: {result}")
            report = result["data"]
            _check(report["total_parcels"] == len(parcels),
                   f"report of {state} counts {report['total_parcels']} parcels, {len(parcels)} were posted")
            acres = round(sum(p["acres"] for p in parcels), 6)
            _check(round(report["total_acres"], 6) == acres,
                   f"report of {state} sums {report['total_acres']} acres, expected {acres}")

    def launch_task(self) -> dict[str, str]:
        """Start the task in moto's ECS; the container environment ECS recorded for it."""
        from .aws import aws_client
        from .context.state import state_scope
        from .fargate.executor import FargateExecutor

        executor = FargateExecutor()
        with state_scope(self.states[0]):
            arn = executor.run_task(TASK_NAME, {"batch_size": 100})
        self.summary.tasks_launched += 1
        task = aws_client("ecs", REGION).describe_tasks(cluster=CLUSTER_NAME, tasks=[arn])["tasks"][0]
        (override,) = [o for o in task["overrides"]["containerOverrides"] if o["name"] == TASK_NAME]
        environment = {item["name"]: item["value"] for item in override["environment"]}
        _check(environment.get("CONSTITUTION_STATE") == self.states[0] and environment.get("TASK_NAME") == TASK_NAME,
               f"unexpected container environment {environment}")
        return environment

    def run_task_locally(self, environment: dict[str, str]) -> None:
        """``python -m aws_helper_sync.fargate``: the container's command, in a process of its own."""
        completed = subprocess.run(
            [sys.executable, "-m", "aws_helper_sync.fargate"],
            env={**os.environ, **environment}, capture_output=True, text=True, timeout=120, check=False,
        )
        self.summary.task_exit_code = completed.returncode
        _check(completed.returncode == 0,
               f"exit code {completed.returncode}:\n{completed.stderr[-3000:]}")

    def count_documents(self) -> None:
        from .database import MongoManager

        client = MongoManager.get_client()
        for state in self.states:
            self.summary.documents[state] = {
                name: client[state][name].count_documents({}) for name in STATE_COLLECTIONS
            }
        self.summary.documents[CORE_DATABASE] = {
            CORE_COLLECTION: client[CORE_DATABASE][CORE_COLLECTION].count_documents({})
        }
        for state in self.states:
            posted = self.summary.parcels_posted[state]
            _check(self.summary.documents[state] == dict.fromkeys(STATE_COLLECTIONS, posted),
                   f"{state}: {self.summary.documents[state]}, expected {posted} of each")
        reports = self.summary.documents[CORE_DATABASE][CORE_COLLECTION]
        _check(reports == len(self.states), f"{reports} reports in core, expected {len(self.states)}")


def provision_example_resources() -> dict[str, str]:
    """Create the example's topic, queue, subscription and ECS cluster in the current AWS endpoint.

    Returns the environment variables that name them (PARCEL_EVENTS_TOPIC_ARN,
    ECS_CLUSTER, ECS_SUBNETS, ECS_SECURITY_GROUPS); used by the README's tests.
    """
    return _Demo(default_app_root(), progress=lambda _line: None).provision()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(app_root: str | os.PathLike[str] | None = None,
        progress: Callable[[str], None] = _stderr) -> DemoSummary:
    """Run the demo and return its summary; raises DemoError naming the failed step.

    Runs in this process: for its duration it sets the environment (MongoDB
    URI, AWS endpoint, dummy credentials, region us-east-2, APP_ROOT) and
    replaces the process's MongoDB and AWS clients; all of that is undone
    when it returns, and every server it started is stopped.
    """
    started = time.perf_counter()
    root = Path(app_root).resolve() if app_root is not None else default_app_root()
    if not (root / "api").is_dir():
        raise DemoError(
            f"the example app is not at {root}: reinstall aws-helper-sync (its wheel ships the "
            "example app), or pass --app-root examples/land_records from a source checkout"
        )
    if importlib.util.find_spec("moto") is None:
        raise DemoError("moto is not installed: pip install 'aws-helper-sync[demo]'")
    demo = _Demo(root, progress)
    progress(f"aws-helper-sync demo: {root}")
    with contextlib.ExitStack() as stack:
        demo.run(stack)
    demo.summary.seconds = round(time.perf_counter() - started, 2)
    return demo.summary


def format_summary(summary: DemoSummary) -> str:
    """The summary as a plain-text table."""
    lines = [f"{'database':<14}{'collection':<18}{'documents':>9}"]
    for database, collections in summary.documents.items():
        lines.extend(f"{database:<14}{name:<18}{count:>9}" for name, count in collections.items())
    requests = ", ".join(f"{count} x {status}" for status, count in sorted(summary.http_requests.items()))
    rows = [
        ("HTTP requests", f"{sum(summary.http_requests.values())} ({requests})"),
        ("messages published", str(summary.messages_published)),
        ("messages processed", f"{summary.messages_processed} (failed: {summary.messages_failed})"),
        ("Lambda invocations", str(summary.lambda_invocations)),
        ("tasks launched", f"{summary.tasks_launched} (ran locally, exit code {summary.task_exit_code})"),
        ("time taken", f"{summary.seconds:.1f} s"),
    ]
    lines.append("")
    lines.extend(f"{label:<20}{value}" for label, value in rows)
    return "\n".join(lines)


def main(app_root: str | os.PathLike[str] | None = None, json_output: bool = False,
         out: TextIO | None = None) -> int:
    """Run the demo and print its summary; 0 on success, 1 when a step failed."""
    out = out or sys.stdout
    try:
        summary = run(app_root)
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    print(summary.to_json() if json_output else format_summary(summary), file=out)
    return 0
