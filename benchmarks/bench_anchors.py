"""aws-helper-sync against the async aws-python-helper 0.32.0 and Powertools 3.x, in one run.

Every framework runs the same workloads (same routes, records, payloads, the
same SecantusDB and moto servers) in its own process: ours in the project's
environment, the anchors under isolated venvs (``anchors/envs.py``), beside a
raw pymongo / boto3 floor. Warm workers stay alive and their samples are
interleaved, so machine noise falls on every side alike. Prints one table of
medians with ratios, the table of the goals of issue 15 (each goal a row:
ours vs the alternative measured in the same run), and writes ``RESULTS.md``.

    python benchmarks/bench_anchors.py                 # full run (several minutes)
    python benchmarks/bench_anchors.py --quick         # smoke-sized run
    python benchmarks/bench_anchors.py --rows goals    # only the issue 15 goal rows
    python benchmarks/bench_anchors.py --rows api_cpu,repo --results /tmp/RESULTS.md
    python benchmarks/bench_anchors.py --results /tmp/RESULTS.md --cache-dir /tmp/venvs

Row groups (``--rows``): cold, api, sqs, sns (the anchor comparison), and the
goal groups api_cpu, sqs_single, sqs_batch, repo, sns_proxy; ``anchors`` and
``goals`` name those two sets (cold belongs to both).

MONGODB_URI / AWS_ENDPOINT_URL, when set, are used instead of starting
SecantusDB / moto.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from anchors import common, envs
from anchors.latency_proxy import LatencyProxy

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANCHORS = HERE / "anchors"
DEFAULT_RESULTS = HERE / "RESULTS.md"

OURS, ASYNC, POWERTOOLS, FLOOR = "ours", "async", "powertools", "floor"
OURS_SEQ = "ours_sequential"  # ours with a setting that turns the measured feature off (same worker)
LABELS = {OURS: "aws-helper-sync", ASYNC: "aws-python-helper", POWERTOOLS: "Powertools", FLOOR: "floor",
          OURS_SEQ: "aws-helper-sync max_concurrency=1"}
SCRIPTS = {OURS: "work_ours.py", ASYNC: "work_async.py", POWERTOOLS: "work_powertools.py", FLOOR: "work_floor.py"}

ANCHOR_GROUPS = ("cold", "api", "sqs", "sns")
GOAL_GROUPS = ("api_cpu", "sqs_single", "sqs_batch", "repo", "sns_proxy")
ROW_GROUPS = ANCHOR_GROUPS + GOAL_GROUPS
ROW_ALIASES = {"anchors": ANCHOR_GROUPS, "goals": ("cold", *GOAL_GROUPS), "all": ROW_GROUPS}
FEATURE_MISSING = "FeatureMissing"  # a worker error naming a setting this tree does not have yet

COLD_IMPORTS = {
    "api": {
        OURS: "import aws_helper_sync.api.handler",
        ASYNC: "import aws_python_helper.api.handler",
        POWERTOOLS: "from aws_lambda_powertools.event_handler import APIGatewayRestResolver",
    },
    "batch": {
        OURS: "import aws_helper_sync.sqs.handler",
        ASYNC: "import aws_python_helper.sqs.handler",
        POWERTOOLS: "from aws_lambda_powertools.utilities.batch import "
                    "BatchProcessor, EventType, process_partial_response",
    },
}


@dataclass(frozen=True)
class Goal:
    """A goal of issue 15 on a row: ours / ``against`` (or ours' own value when ``against`` is None)."""

    against: str | None
    op: str  # "<=" or ">="
    target: float

    def measured(self, row: Row) -> float | None:
        return row.median(OURS) if self.against is None else row.paired_ratio(self.against)

    def met(self, row: Row) -> bool | None:
        value = self.measured(row)
        if value is None:
            return None
        return value <= self.target if self.op == "<=" else value >= self.target

    def text(self) -> str:
        suffix = "" if self.against is None else "x"
        return f"{self.op} {self.target:.2f}{suffix}"


@dataclass
class Row:
    """One line of the table: a median per side, the floor, and which way is better."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    samples: dict = field(default_factory=dict)  # side -> [values]
    errors: dict = field(default_factory=dict)  # side -> message
    goals: tuple = ()  # Goal, ...
    unavailable: dict = field(default_factory=dict)  # side -> why this tree cannot run it (not a failure)

    def median(self, side: str) -> float | None:
        values = self.samples.get(side)
        return statistics.median(values) if values else None

    def ratio(self, theirs: str) -> float | None:
        ours, other = self.median(OURS), self.median(theirs)
        if ours is None or not other:
            return None
        return ours / other

    def paired_ratio(self, theirs: str) -> float | None:
        """Median of the per-round ratios (ours and theirs ran back to back in each round).

        On a shared machine the load drifts between rounds; a ratio taken
        within each round cancels most of it. Falls back to the ratio of the
        medians when the rounds do not pair up (a side failed part-way).
        """
        ours, other = self.samples.get(OURS), self.samples.get(theirs)
        if ours and other and len(ours) == len(other) and all(other):
            return statistics.median(o / t for o, t in zip(ours, other))
        return self.ratio(theirs)

    def record_error(self, side: str, message: str) -> None:
        if message.startswith(FEATURE_MISSING + ":"):
            self.unavailable[side] = message[len(FEATURE_MISSING) + 1:].strip()
        else:
            self.errors[side] = message

    def ranges_overlap(self, theirs: str) -> bool:
        ours, other = self.samples.get(OURS), self.samples.get(theirs)
        return bool(ours and other) and min(ours) <= max(other) and min(other) <= max(ours)

    def ahead_of(self, theirs: str) -> bool | None:
        ratio = self.ratio(theirs)
        if ratio is None:
            return None
        return ratio > 1 if self.higher_is_better else ratio < 1


class Worker:
    """A warm side process speaking the one-JSON-line protocol of ``anchors/common.serve``."""

    def __init__(self, side: str, python: str, env: dict, log_dir: Path, name: str | None = None) -> None:
        self.side = side
        self.log_path = log_dir / f"{name or side}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - lives as long as the worker
        self.process = subprocess.Popen(
            [python, str(ANCHORS / SCRIPTS[side])], cwd=ANCHORS, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )

    def call(self, op: str, **params) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"op": op, **params}) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the {LABELS[self.side]} worker exited:\n{self.log_tail()}")
            if line.startswith(common.RESULT_PREFIX):
                return json.loads(line[len(common.RESULT_PREFIX):])

    def log_tail(self, lines: int = 20) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


def time_to_ready(argv: list[str], env: dict) -> float:
    """Milliseconds from spawning ``argv`` until it prints the ready line.

    The clock stops at the answer, not at exit: an interpreter holding a
    MongoClient spends a further ~0.5 s joining pymongo's monitor threads on
    the way out, which a Lambda (kept alive after answering) never pays.
    """
    with tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=ANCHORS, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=stderr)
        elapsed = None
        assert process.stdout
        for line in process.stdout:
            if line.strip() == common.READY_LINE:
                elapsed = (time.perf_counter() - start) * 1000
                break
        process.stdout.close()
        returncode = process.wait(120)
        if elapsed is None or returncode != 0:
            stderr.seek(0)
            lines = stderr.read().strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit status {returncode}")
    return elapsed


def _ready_code(code: str) -> str:
    return f"{code}\nimport sys; sys.stdout.write({common.READY_LINE!r} + '\\n'); sys.stdout.flush()"


def measure_cold(pythons: dict, env: dict, runs: int, log) -> tuple[list[Row], dict]:
    """Fresh-process time to ready, median of ``runs``; cases interleaved run by run.

    Only our processes get the working tree on ``PYTHONPATH`` (an extra path
    entry costs every import a lookup). Returns the rows and the reference
    imports (``import pymongo``/``boto3``). The goal rows (an import over a
    bare interpreter) subtract, run by run, the bare interpreter of that run.
    """
    ours_env = dict(env, PYTHONPATH=str(REPO))
    rows = [
        Row("cold_api", "cold start: import the API handler module", "ms", False),
        Row("cold_batch", "cold start: import the SQS batch module", "ms", False),
        Row("cold_first", "cold start: fresh process to first find_one response", "ms", False),
        Row("cold_first_trivial", "cold start: fresh process to first trivial (GET /ping) response", "ms", False),
    ]
    cases = []  # (row, side, argv); row None: a reference import
    for row, kind in ((rows[0], "api"), (rows[1], "batch")):
        for side, code in COLD_IMPORTS[kind].items():
            cases.append((row, side, [pythons[side], "-c", _ready_code(code)]))
        cases.append((row, FLOOR, [pythons[OURS], "-c", _ready_code("pass")]))
    for row, flag in ((rows[2], "--cold"), (rows[3], "--cold-trivial")):
        for side in (OURS, ASYNC, POWERTOOLS, FLOOR):
            cases.append((row, side, [pythons[side], str(ANCHORS / SCRIPTS[side]), flag]))
    references = {name: [pythons[OURS], "-c", _ready_code(name)] for name in ("import pymongo", "import boto3")}
    reference_samples: dict[str, list[float]] = {name: [] for name in references}
    cases += [(None, name, argv) for name, argv in references.items()]
    for run in range(runs):
        for row, side, argv in cases:
            try:
                elapsed = time_to_ready(argv, ours_env if side == OURS else env)
            except RuntimeError as exc:
                if row is None:
                    raise
                row.errors[side] = str(exc)
                continue
            if row is None:
                reference_samples[side].append(elapsed)
            else:
                row.samples.setdefault(side, []).append(elapsed)
        log(f"  cold start: run {run + 1}/{runs}")
    rows[2:2] = [net_import_row(rows[0], "cold_api_net", "cold start: API handler import over a bare interpreter"),
                 net_import_row(rows[1], "cold_batch_net", "cold start: SQS handler import over a bare interpreter")]
    return rows, {name: statistics.median(values) for name, values in reference_samples.items()}


def net_import_row(row: Row, key: str, title: str) -> Row:
    """``row`` minus the bare interpreter of the same run: the import itself (goal: ours <= 0.30x Powertools)."""
    net = Row(key, title, "ms", False, goals=(Goal(POWERTOOLS, "<=", 0.30),))
    bare = row.samples.get(FLOOR, [])
    for side in (OURS, ASYNC, POWERTOOLS):
        values = row.samples.get(side, [])
        if side in row.errors or FLOOR in row.errors or len(values) != len(bare):
            net.errors[side] = "not every run produced both this import and the bare interpreter"
            continue
        net.samples[side] = [value - floor for value, floor in zip(values, bare)]
    return net


def sample(workers: dict, row: Row, sides: list[str], runs: int, params, log) -> None:
    """One discarded warm-up call per side, then ``runs`` rounds, each side once per round."""
    active = []
    for side in sides:
        result = workers[side].call(**params(-1, side))
        if result["ok"]:
            active.append(side)
        else:
            row.record_error(side, result["error"])
            outcome = "cannot run on this tree" if side in row.unavailable else "failed"
            log(f"  {row.title}: {LABELS[side]} {outcome}: {result['error']}")
    for run in range(runs):
        for side in list(active):
            result = workers[side].call(**params(run, side))
            if result["ok"]:
                row.samples.setdefault(side, []).append(result["value"])
            else:
                row.record_error(side, result["error"])
                active.remove(side)
                log(f"  {row.title}: {LABELS[side]} failed: {result['error']}")
    log(f"  {row.title}: done")


def seed(uri: str) -> None:
    """Fresh benchmark databases, and the items the find_one route reads."""
    from pymongo import MongoClient

    client = MongoClient(uri)
    try:
        drop_databases(client)
        items = client[common.API_STATE][common.ITEMS_COLLECTION]
        items.insert_many([common.item_document(i) for i in range(1, common.ITEM_COUNT + 1)])
    finally:
        client.close()


def drop_databases(client) -> None:
    for state in common.STATES:
        client.drop_database(state)


def cleanup(uri: str) -> None:
    from pymongo import MongoClient

    client = MongoClient(uri)
    try:
        drop_databases(client)
    finally:
        client.close()


def create_topic(endpoint_url: str, region: str, env: dict) -> str:
    import boto3

    client = boto3.client("sns", region_name=region, endpoint_url=endpoint_url,
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                          aws_session_token=env.get("AWS_SESSION_TOKEN"))
    return client.create_topic(Name=f"bench-anchors-{os.getpid()}-{int(time.time())}")["TopicArn"]


def async_publisher_probes(worker: Worker, topic_arn: str, messages: int) -> dict:
    """What the async publisher does with a whole list (one PublishBatch) and with one dict."""
    outcomes = {}
    for name, op, params in (
        (f"publish(list of {messages})", "sns", {"messages": messages, "chunk": None}),
        ("publish(dict)", "sns_one", {}),
    ):
        result = worker.call(op, topic_arn=topic_arn, state=common.API_STATE, **params)
        outcomes[name] = "succeeded" if result["ok"] else f"raised {result['error']}"
    return outcomes


def quiet_moto_access_log() -> None:
    """moto's werkzeug server logs every request on stderr; the driver's log is for progress."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def run(args, log) -> dict:
    """Everything but the printing: envs, servers, samples. Returns the report data."""
    anchor_envs = envs.ensure_envs(args.cache_dir, log=log)
    venv_python = {
        OURS: str(anchor_envs[envs.OURS_CLEAN].python),
        ASYNC: str(anchor_envs[envs.ASYNC_FRAMEWORK].python),
        POWERTOOLS: str(anchor_envs[envs.POWERTOOLS].python),
        FLOOR: str(anchor_envs[envs.OURS_CLEAN].python),
    }
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-2"
    report = {"anchor_envs": anchor_envs, "servers": {}, "rows": [], "notes": {}}
    with ExitStack() as stack:
        uri = os.environ.get("MONGODB_URI")
        if uri:
            report["servers"]["mongodb"] = "MONGODB_URI (external)"
        else:
            from aws_helper_sync.devservers import SecantusServer

            uri = stack.enter_context(SecantusServer()).uri
            report["servers"]["mongodb"] = f"SecantusDB {metadata.version('SecantusDB')} (local process)"
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            report["servers"]["aws"] = "AWS_ENDPOINT_URL (external)"
        else:
            from aws_helper_sync.devservers import MotoServer

            quiet_moto_access_log()
            endpoint = stack.enter_context(MotoServer()).endpoint_url
            report["servers"]["aws"] = f"moto {metadata.version('moto')} server (in the driver process)"
        env = dict(os.environ, MONGODB_URI=uri, AWS_ENDPOINT_URL=endpoint, AWS_REGION=region,
                   AWS_DEFAULT_REGION=region)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setdefault(name, "testing")
        for name in ("APP_ROOT", "REQUIRE_AUTH", "ALLOWED_STATES", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        log(f"MongoDB: {uri}  AWS: {endpoint}")
        seed(uri)
        stack.callback(cleanup, uri)

        if "cold" in args.rows:
            # Fresh processes run from clean interpreters, ours from the working tree. Its
            # bytecode is compiled first, as pip did for the anchors' site-packages.
            subprocess.run([venv_python[OURS], "-m", "compileall", "-q", str(REPO / "aws_helper_sync"),
                            str(ANCHORS)], env=env, check=False)  # a broken unrelated file must not stop the run
            log(f"cold start: {args.cold_runs} fresh processes per case")
            cold_rows, report["notes"]["cold_refs"] = measure_cold(venv_python, env, args.cold_runs, log)
            report["rows"].extend(cold_rows)

        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-anchors-")))
        worker_python = {OURS: sys.executable, ASYNC: venv_python[ASYNC],
                         POWERTOOLS: venv_python[POWERTOOLS], FLOOR: sys.executable}
        workers = LazyWorkers(worker_python, env, log_dir, stack)
        if "api" in args.rows:
            run_api(workers, args, report, log)
        if "sqs" in args.rows:
            run_sqs(workers, args, report, log)
        if "sns" in args.rows:
            run_sns(workers, args, report, log, create_topic(endpoint, region, env))
        if "api_cpu" in args.rows:
            run_api_cpu(workers, args, report, log)
        if "sqs_single" in args.rows:
            run_sqs_single(workers, args, report, log)
        if "sqs_batch" in args.rows:
            run_sqs_batch(workers, args, report, log)
        if "repo" in args.rows:
            run_repo(workers, args, report, log)
        if "sns_proxy" in args.rows:
            proxy = LatencyProxy(endpoint, args.proxy_delay_ms / 1000.0)
            proxy_url = proxy.start()
            stack.callback(proxy.stop)
            log(f"SNS latency proxy: {proxy_url} -> {endpoint} (+{args.proxy_delay_ms:g} ms per request)")
            proxied = LazyWorkers(worker_python, dict(env, AWS_ENDPOINT_URL=proxy_url), log_dir, stack,
                                  suffix="-proxied")
            run_sns_proxy(proxied, args, report, log, create_topic(endpoint, region, env))
            report["notes"]["proxy_requests"] = proxy.requests
    return report


class LazyWorkers(dict):
    """side -> Worker, each started on first use (a row group starts only the sides it measures).

    Our worker gets the working tree on ``PYTHONPATH``: without it the
    project environment's editable install would be imported, which is
    another tree when the driver runs from a git worktree.
    """

    def __init__(self, pythons: dict, env: dict, log_dir: Path, stack: ExitStack, suffix: str = "") -> None:
        super().__init__()
        self.pythons, self.env, self.log_dir, self.stack, self.suffix = pythons, env, log_dir, stack, suffix

    def __missing__(self, side: str) -> Worker:
        env = dict(self.env, PYTHONPATH=str(REPO)) if side == OURS else self.env
        worker = self[side] = Worker(side, self.pythons[side], env, self.log_dir, name=side + self.suffix)
        self.stack.callback(worker.close)
        return worker


def run_api(workers: dict, args, report: dict, log) -> None:
    for route, requests in (("trivial", args.requests), ("find_one", args.find_one_requests)):
        title = "trivial route" if route == "trivial" else "one find_one"
        row = Row(f"api_{route}", f"API handler: {title} ({requests} requests)", "req/s", True)
        sample(workers, row, [OURS, ASYNC, POWERTOOLS, FLOOR], args.runs,
               lambda run, side, route=route, requests=requests:
               {"op": "api", "route": route, "requests": requests}, log)
        report["rows"].append(row)


def run_sqs(workers: dict, args, report: dict, log) -> None:
    write_number = itertools.count(1)  # every sample writes new values, so no upsert is a no-op

    def params(run: int, side: str, sequential: bool = False) -> dict:
        command = {"op": "sqs", "states": args.states, "per_state": args.per_state,
                   "wait_ms": args.wait_ms, "run": next(write_number)}
        return {**command, "sequential": True} if sequential else command

    row = Row("sqs", f"SQS batch: {args.states} states x {args.per_state} records, "
              f"{args.wait_ms:g} ms downstream wait per group", "ms", False)
    sample(workers, row, [OURS, ASYNC, POWERTOOLS, FLOOR], args.runs, params, log)
    report["rows"].append(row)
    sequential = Row("sqs_seq", "SQS floor, groups one after another", "ms", False)
    sample(workers, sequential, [FLOOR], args.runs,
           lambda run, side: params(run, side, sequential=True), log)
    report["notes"]["sqs_sequential_floor"] = sequential.median(FLOOR)
    report["notes"]["sqs_sequential_errors"] = sequential.errors


def run_sns(workers: dict, args, report: dict, log, topic_arn: str) -> None:
    row = Row("sns", f"SNS: publish {args.messages} messages", "msg/s", True)
    report["notes"]["async_probes"] = async_publisher_probes(workers[ASYNC], topic_arn, args.messages)
    for call, outcome in report["notes"]["async_probes"].items():
        log(f"  SNS: aws-python-helper {call} {outcome}")
    sample(workers, row, [OURS, ASYNC, FLOOR], args.sns_runs,
           lambda run, side: {"op": "sns", "messages": args.messages, "topic_arn": topic_arn,
                              "state": common.API_STATE}, log)
    report["rows"].append(row)


# -- the goal rows of issue 15 ---------------------------------------------------

API_CPU_ROWS = (  # case, title, goal of ours / Powertools
    ("rest_trivial", "API CPU: REST v1 trivial route, 15 headers", 0.40),
    ("http_trivial", "API CPU: HTTP API v2 trivial route, 15 headers", 0.30),
    ("rest_post", "API CPU: REST v1 POST, small JSON body parsed", 0.45),
)


def run_api_cpu(workers: dict, args, report: dict, log) -> None:
    for case, title, goal in API_CPU_ROWS:
        row = Row(f"api_cpu_{case}", title, "µs/req", False,
                  goals=(Goal(POWERTOOLS, "<=", goal), Goal(FLOOR, "<=", 3.0)))
        sample(workers, row, [OURS, POWERTOOLS, FLOOR], args.runs,
               lambda run, side, case=case: {"op": "api_cpu", "case": case, "requests": args.cpu_requests}, log)
        report["rows"].append(row)


def sqs_goal_params(mode: str, metric: str, records: int, states: int, invocations: int,
                    wait_ms: float = 0.0):
    runs = itertools.count(1)  # fresh message ids every sample

    def params(run: int, side: str) -> dict:
        return {"op": "sqs_goal", "mode": mode, "metric": metric, "records": records, "states": states,
                "invocations": invocations, "run": next(runs), "wait_ms": wait_ms}

    return params


def run_sqs_single(workers: dict, args, report: dict, log) -> None:
    records = args.single_records
    row = Row("sqs_single", f"SQS single mode: {records} records of 1 state, no-op consumer", "µs/record", False,
              goals=(Goal(POWERTOOLS, "<=", 2.0),))
    sample(workers, row, [OURS, POWERTOOLS, FLOOR], args.runs,
           sqs_goal_params("single", "us_per_record", records, 1, args.single_invocations), log)
    report["rows"].append(row)


def run_sqs_batch(workers: dict, args, report: dict, log) -> None:
    states = len(common.STATES)
    row = Row("sqs_batch_noop", f"SQS batch mode: 10 records over {states} states, no-op consumer",
              "µs/call", False, goals=(Goal(FLOOR, "<=", 2.5),))
    sample(workers, row, [OURS, POWERTOOLS, FLOOR], args.runs,
           sqs_goal_params("batch", "us_per_invocation", 10, states, args.noop_invocations), log)
    report["rows"].append(row)
    for records, goal, invocations in ((10, 0.93, args.io_invocations),
                                       (1000, 0.90, max(1, args.io_invocations // 2))):
        row = Row(f"sqs_fanout_{records}", f"SQS batch fan-out: {records} records over {states} states, "
                  f"{args.io_wait_ms:g} ms I/O per group", "efficiency", True, goals=(Goal(None, ">=", goal),))
        sample(workers, row, [OURS, POWERTOOLS, FLOOR], args.runs,
               sqs_goal_params("io", "efficiency", records, states, invocations, args.io_wait_ms), log)
        report["rows"].append(row)


def run_repo(workers: dict, args, report: dict, log) -> None:
    same_worker = {OURS: workers[OURS], FLOOR: workers[OURS]}  # the floor is a dict in our own process
    for threads in (1, 8):
        row = Row(f"repo_{threads}", f"Repository hit path, {threads} thread{'s' if threads > 1 else ''}",
                  "ns", False, goals=(Goal(FLOOR, "<=", 3.0),))
        sample(same_worker, row, [OURS, FLOOR], args.runs,
               lambda run, side, threads=threads: {
                   "op": "repo", "variant": "repository" if side == OURS else "dict",
                   "threads": threads, "lookups": max(1, args.repo_lookups // threads)}, log)
        report["rows"].append(row)


def run_sns_proxy(workers: dict, args, report: dict, log, topic_arn: str) -> None:
    sides = {OURS: workers[OURS], OURS_SEQ: workers[OURS], ASYNC: workers[ASYNC]}
    row = Row("sns_proxy", f"SNS: publish(list) of {args.proxy_messages} messages, "
              f"+{args.proxy_delay_ms:g} ms per request", "msg/s", True, goals=(Goal(OURS_SEQ, ">=", 3.0),))

    def params(run: int, side: str) -> dict:
        command = {"op": "sns", "messages": args.proxy_messages, "topic_arn": topic_arn, "state": common.API_STATE}
        return {**command, "max_concurrency": 1} if side == OURS_SEQ else command

    sample(sides, row, [OURS, OURS_SEQ, ASYNC], args.sns_runs, params, log)
    report["rows"].append(row)


# -- output -------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if unit == "efficiency":
        return f"{value:.2f}"
    if unit == "ms" or unit.startswith("µs"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def fmt_ratio(row: Row, theirs: str) -> str:
    ratio = row.ratio(theirs)
    if ratio is None:
        return "n/a" if theirs not in row.samples and theirs not in row.errors else "failed"
    return f"{ratio:.2f}x"


TABLE_HEADER = ("row", "unit", "better", LABELS[OURS], LABELS[ASYNC], LABELS[POWERTOOLS],
                "floor", "ours/async", "ours/PT", "ours/floor")


def _measured(row: Row, side: str) -> bool:
    return side in row.samples or side in row.errors


def table_cells(report: dict) -> list[tuple[str, ...]]:
    cells = []
    for row in report["rows"]:
        cells.append((
            row.title, row.unit, "higher" if row.higher_is_better else "lower",
            *(fmt(row.median(side), row.unit) if _measured(row, side) else "-"
              for side in (OURS, ASYNC, POWERTOOLS, FLOOR)),
            *(fmt_ratio(row, side) if _measured(row, side) else "-" for side in (ASYNC, POWERTOOLS, FLOOR)),
        ))
    return cells


GOAL_HEADER = ("goal row", "unit", LABELS[OURS], "against", "their median", "measured", "goal", "verdict")
GOAL_NOTE = ("measured: ours / theirs as the median of the per-round ratios (each round runs the sides back to "
             "back), or ours' own median where the goal is a value")


def goal_cells(report: dict) -> list[tuple[str, ...]]:
    """One line per goal of issue 15: what was measured in this run against what the goal says."""
    cells = []
    for row in report["rows"]:
        for goal in row.goals:
            against = goal.against
            if against is None:
                name, theirs, measured = "(ideal 1.00)", "-", fmt(goal.measured(row), row.unit)
            else:
                name = LABELS[against]
                theirs = fmt(row.median(against), row.unit) if _measured(row, against) else "-"
                paired = goal.measured(row)
                measured = f"{paired:.2f}x" if paired is not None else fmt_ratio(row, against)
            met = goal.met(row)
            if met is None:
                missing = row.unavailable.get(against) or row.unavailable.get(OURS)
                verdict = "not measurable on this tree" if missing else "failed"
            else:
                verdict = "met" if met else "NOT met"
            if against in row.unavailable:
                theirs = "n/a"
            cells.append((row.title, row.unit, fmt(row.median(OURS), row.unit), name, theirs, measured,
                          goal.text(), verdict))
    return cells


def _markdown(header: tuple, body: list, left: int) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] * left + ["---:"] * (len(header) - left)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def text_table(report: dict) -> str:
    return common.aligned_table(TABLE_HEADER, table_cells(report))


def markdown_table(report: dict) -> str:
    return _markdown(TABLE_HEADER, table_cells(report), 3)


def goal_text_table(report: dict) -> str:
    return common.aligned_table(GOAL_HEADER, goal_cells(report))


def goal_markdown_table(report: dict) -> str:
    return _markdown(GOAL_HEADER, goal_cells(report), 2)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(report: dict) -> list[str]:
    ours = (f"- aws-helper-sync {metadata.version('aws-helper-sync')} (this tree, git {git_revision()}) "
            f"with pymongo {metadata.version('pymongo')}, boto3 {metadata.version('boto3')}")
    lines = [ours]
    for name, env in report["anchor_envs"].items():
        lines.append(f"- venv `{name}`: " + ", ".join(f"{k} {v}" for k, v in env.versions.items()))
    lines += [f"- MongoDB: {report['servers']['mongodb']}", f"- AWS: {report['servers']['aws']}"]
    return lines


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, check=True)
        # The results file being rewritten by this very run does not make the tree dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", f":!{DEFAULT_RESULTS.relative_to(REPO)}"],
                               cwd=REPO, capture_output=True, text=True, check=True)
        return out.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def samples_text(report: dict) -> list[str]:
    """Every sample, sorted, so a reader can judge the spread behind each median."""
    lines = []
    for row in report["rows"]:
        parts = [f"{LABELS[side]} " + ", ".join(fmt(v, row.unit) for v in sorted(row.samples[side]))
                 for side in LABELS if row.samples.get(side)]
        lines.append(f"- {row.title} ({row.unit}): " + "; ".join(parts))
    return lines


def errors_text(report: dict) -> list[str]:
    lines = []
    for row in report["rows"]:
        for side, error in row.errors.items():
            lines.append(f"- {row.title} / {LABELS[side]}: {error}")
    return lines


def unavailable_text(report: dict) -> list[str]:
    """Variants this tree cannot run yet (a setting another change adds): not failures."""
    return [f"- {row.title} / {LABELS[side]}: {why}"
            for row in report["rows"] for side, why in row.unavailable.items()]


def verdict(report: dict) -> list[str]:
    """Where ours is behind, and whether that gap is outside the run's noise."""
    lines = []
    for row in report["rows"]:
        for theirs in (ASYNC, POWERTOOLS):
            if row.ahead_of(theirs) is False:
                noise = ("the sample ranges overlap" if row.ranges_overlap(theirs)
                         else "no overlap between the sample ranges")
                lines.append(f"- behind {LABELS[theirs]} on: {row.title} ({fmt_ratio(row, theirs)}; {noise})")
    return lines or ["- ahead of both anchors on every row measured"]


def _row(report: dict, key: str) -> Row | None:
    return next((row for row in report["rows"] if row.key == key), None)


def pymongo_share(report: dict) -> str:
    """How much of our first request in a fresh process is ``import pymongo`` (same venv, same runs)."""
    refs = report["notes"].get("cold_refs") or {}
    imports, first, trivial = _row(report, "cold_api"), _row(report, "cold_first"), _row(report, "cold_first_trivial")
    bare = imports.median(FLOOR) if imports else None
    pymongo = refs.get("import pymongo")
    if bare is None or pymongo is None or not first or first.median(OURS) is None:
        return "pymongo's share of the first request: not measured in this run"
    pymongo_net = pymongo - bare
    first_net = first.median(OURS) - bare
    text = (f"`import pymongo` alone takes {pymongo:,.1f} ms in our venv ({pymongo_net:,.1f} ms over the bare "
            f"interpreter's {bare:,.1f} ms): {pymongo_net / first_net:.0%} of our fresh process to its first "
            f"find_one response over the bare interpreter ({first_net:,.1f} ms)")
    if trivial and trivial.median(OURS) is not None:
        text += (f"; our first trivial (GET /ping) response takes {trivial.median(OURS):,.1f} ms "
                 f"({trivial.median(OURS) - bare:,.1f} ms over the bare interpreter)")
    return text


def explain_cold(report: dict, args) -> str:
    refs = ", ".join(f"`{name}` {value:,.1f} ms" for name, value in report["notes"]["cold_refs"].items())
    return f"""- **Cold start, import rows** (median of {args.cold_runs} fresh processes): time from
  spawning `python -c "<import>"` until it has imported: ours `import aws_helper_sync.api.handler` /
  `aws_helper_sync.sqs.handler`; the async framework `import aws_python_helper.api.handler` /
  `.sqs.handler` (its package `__init__` imports everything, Motor and boto3 included);
  Powertools `from aws_lambda_powertools.event_handler import APIGatewayRestResolver` /
  `from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response`.
  All run in clean venvs built from the same interpreter; ours imports the working
  tree through `PYTHONPATH` in a venv holding only our runtime dependencies, because
  the project's development environment preloads about a hundred modules at
  interpreter start (site hooks, the editable-install finder) that a Lambda does not
  have. Floor: the interpreter alone (`python -c pass`). For reference, in the same
  interpreter: {refs}.
- **Cold start, first find_one response**: a fresh process imports the handler and
  answers one `GET /items/1` (connecting to MongoDB, reading one document); the clock
  stops at the answer, not at exit (pymongo joins its monitor threads at exit, which a
  Lambda never waits for). This is the cold start a user sees: a library that defers
  imports pays for them here. Floor: raw pymongo doing the same in a bare function.
- **Cold start, import over a bare interpreter** (goal rows, ours <= 0.30x Powertools):
  the two import rows above minus the bare interpreter of the same run (the runs
  interleave every case, so each import is paired with the `python -c pass` started
  next to it): the cost of the import itself, which is what the goal compares.
- **Cold start, first trivial response**: as the find_one row, for one `GET /ping`
  (no database call: whoever imports pymongo before the first request pays it here
  too). {pymongo_share(report)}. pymongo's import dominates any first request that
  reads MongoDB, and it is the same pymongo for ours, Powertools and the floor.
"""


def explain_api(report: dict, args) -> str:
    return f"""- **API handler**: {args.requests} (trivial) / {args.find_one_requests} (find_one) API
  Gateway REST v1 events per sample through each framework's Lambda entry point in a
  warm process; requests per second. Ours: `api_handler` with file routes
  `api/ping/list.py` and `api/items/get.py`. The async framework: its `api_handler`,
  which drives the request coroutine with `run_until_complete` on its module event
  loop on every call, with the same two files (`async def process`, Motor
  `find_one`). Powertools: `APIGatewayRestResolver` with `@app.get("/ping")` and
  `@app.get("/items/<item_id>")` and a module-level pymongo client. All three require
  the `constitution-state` header and pick the database from it; every response is
  checked (status 200 and the expected body) after the timed loop. Floor: a bare
  function that reads the header and answers the same JSON (plus the raw `find_one`).
"""


def explain_sqs(report: dict, args) -> str:
    records = args.states * args.per_state
    sequential = report["notes"].get("sqs_sequential_floor")
    server_note = ""
    if report["servers"]["mongodb"].startswith("SecantusDB"):
        server_note = """
  SecantusDB is a single Python process: concurrent `bulk_write`s queue up on it, so
  here fanning out mostly saves the downstream waits, not the writes; the gap
  between the two floors is what fan-out can buy on this server."""
    return f"""- **SQS batch**: one event of {records} records ({args.states} states x {args.per_state},
  interleaved as a shared queue delivers them); per record one upsert of the same
  document (`UpdateOne({{_id: messageId}}, {{$set: ...}})`, new values every sample so
  every write is real), and per state group a fixed {args.wait_ms:g} ms downstream call (a sleep).
  Ours: batch mode, `process_batch` per state group with one `bulk_write` and the
  wait, the groups fanned out on up to 8 threads. The async framework: its batch mode
  with the same `process_batch` (Motor `bulk_write`, `await asyncio.sleep`); it runs
  the groups one after another. Powertools: `BatchProcessor(EventType.SQS)` +
  `process_partial_response`, which calls the record handler once per record. The
  fairest equivalent: the natural per-record code (one `update_one` upsert per record,
  the same document change) with the downstream call made once per state group (on
  the first record of each state), so the wait is paid {args.states} times as in the grouped
  frameworks rather than {records} times (a per-record wait would only measure
  sleeping). What it cannot do inside a record handler is batch the writes of a
  group: that difference is part of what the row shows. Every side must report zero
  failed records. Floor: raw pymongo grouping the records and running the
  {args.states} `bulk_write` + wait pairs on a warm 8-thread pool; with the groups one after
  another (the floor of a design that does not fan out) it takes {fmt(sequential, "ms")} ms.{server_note}
"""


def explain_sns(report: dict, args) -> str:
    probes = "".join(f"\n  - `{call}` {outcome.rstrip('.')}." for call, outcome in report["notes"]["async_probes"].items())
    return f"""- **SNS**: {args.messages} messages (`{{"content": {{...}}}}`, the state attribute added) to one
  topic on moto; messages per second. Ours: `SNSPublisher(topic).publish(list)`
  (PublishBatch, 10 entries per request, in input order). The async framework's
  `publish(list)` sends the whole list as ONE PublishBatch request, which SNS refuses
  past 10 entries, and it returns `(successful_ids, [None, ...])` rather than ids in
  input order. Probed in this run:{probes}

  Its row is therefore measured the only way that works: the caller slices the list
  into chunks of 10 and awaits `publish(chunk)` for each (it calls boto3 synchronously
  inside `async def`, so awaiting the chunks concurrently would not overlap).
  Powertools has no SNS publisher. Floor: raw boto3 `publish_batch`, 10 entries per
  call, one client. moto is not AWS: this row compares client-side overhead against
  a local server.
"""


def explain_api_cpu(report: dict, args) -> str:
    return f"""- **API CPU** (goal rows; goals ours/Powertools <= 0.40 REST v1, <= 0.30 HTTP v2,
  <= 0.45 POST, and ours within 3x of the floor): this process's thread CPU time
  (`time.thread_time`, so other processes on the machine do not count) per request
  over {args.cpu_requests:,} requests per sample, in µs; the events are built (by the
  same `common.cpu_case_event` for every side) in chunks of {common.CPU_CHUNK:,} outside the
  timed loop and every response is checked after it (status 200 and the exact body).
  Events as API Gateway delivers them: REST v1 with 15 headers (Accept,
  Accept-Encoding, CloudFront-*, Host, User-Agent, Via, X-Amz-Cf-Id, X-Amzn-Trace-Id,
  X-Forwarded-For/Port/Proto, constitution-state) and their `multiValueHeaders`, and a
  full `requestContext`; HTTP API v2 with the same 15 headers lower-cased; the POST
  carries a ~150-byte JSON object that the route parses and answers part of
  (`{{"name", "qty"}}`). Ours: `api_handler` with the file routes `api/ping/list.py` and
  `api/items/post.py` (`self.data`). Powertools: `APIGatewayRestResolver` (v1) or
  `APIGatewayHttpResolver` (v2) with `@app.get("/ping")` and `@app.post("/items")`
  (`current_event.json_body`), each checking the state header against the same pattern
  and reserved names as ours (ours checks it for every route, as SPEC §5 requires).
  Floor: a hand-written function routing on (method, path), reading the state header
  (in any case), checking it the same way, and answering the same JSON with a
  Content-Type and a CORS header.
"""


def explain_sqs_single(report: dict, args) -> str:
    return f"""- **SQS single mode** (goal: ours <= 2x Powertools): wall µs per record over
  {args.single_invocations} invocations per sample of {args.single_records} records, all of one state, each
  invocation on a fresh event (built outside the clock by `common.sqs_state_event`: small
  JSON bodies, the state as the `constitution-state` message attribute, as our
  publishers and SNS raw delivery send it); every response must report no failure.
  Ours: `sqs_handler` with a single-mode consumer whose `process_record` only reads
  `get_state()` (the framework validates the state and runs each record in its own
  context first). Powertools: `BatchProcessor(EventType.SQS)` +
  `process_partial_response` with a record handler that reads the attribute and checks
  it against the same pattern and reserved names. Floor: a loop reading and checking
  each record's attribute.
"""


def explain_sqs_batch(report: dict, args) -> str:
    return f"""- **SQS batch mode, no-op** (goal: ours <= 2.5x the floor): wall µs per invocation
  over {args.noop_invocations} invocations per sample of 10 records spread round-robin over 8 states
  (fresh events, as above). Ours: a batch-mode consumer whose `process_batch` only reads
  `get_state()`, the 8 state groups fanned out on its threads. Floor: the records'
  states read and checked, grouped, and the 8 groups submitted as no-op tasks to a warm
  8-thread `ThreadPoolExecutor` and waited for. Powertools, for reference: its
  `BatchProcessor` runs the records one after another in the calling thread, so it pays
  no thread hand-off at all (and overlaps nothing).
- **SQS batch fan-out** (goals: efficiency >= 0.93 with 10 records, >= 0.90 with
  1,000): the same events with each state group waiting a fixed {args.io_wait_ms:g} ms (a
  downstream call, `time.sleep`); efficiency = ideal / measured, the ideal being one
  wait per invocation (every group's wait fully overlapped, nothing else).
  {args.io_invocations} invocations per sample (10 records), {max(1, args.io_invocations // 2)} (1,000 records). Powertools
  for reference: the wait once per state group (on its first record), sequentially;
  floor: the warm pool running the 8 waiting groups.
"""


def explain_repo(report: dict, args) -> str:
    return f"""- **Repository hit path** (goal: ours <= 3x the floor, at 1 and 8 threads): ns per
  `repository.collection` access in our worker, over {args.repo_lookups:,} accesses per sample
  split over the threads, each thread in its own state (`state_scope`), its first access
  (the miss) made before the clock starts; wall time from a barrier to the last thread's
  end, so a hit path that serializes threads shows at 8. Floor, in the same process and
  loop: a plain dict keyed by (state, collection name) with the state read from a
  `ContextVar`, the least any per-state cache must do.
"""


def explain_sns_proxy(report: dict, args) -> str:
    requests = report["notes"].get("proxy_requests")
    counted = f" (the proxy forwarded {requests:,} requests in this run)" if requests else ""
    return f"""- **SNS behind latency** (goal: ours >= 3x ours sequential): `publish(list)` of
  {args.proxy_messages} messages (100 PublishBatch requests of 10 for 1,000) to moto through
  `anchors/latency_proxy.py`, a loopback forwarder that adds {args.proxy_delay_ms:g} ms to every request, as
  a real AWS round trip would{counted}; msg/s. Ours: `SNSPublisher(topic).publish(list)`
  with its defaults (the chunks of one call sent concurrently, bounded), against the
  same publisher with `max_concurrency=1` (its chunks one after another), in the same
  worker and interleaved. The async framework for reference: chunks of 10 awaited one
  after another (see the SNS row above). moto's own time per request (a few ms of CPU
  in the driver process) bounds what concurrency can buy here.
"""


EXPLAIN = {"cold": explain_cold, "api": explain_api, "sqs": explain_sqs, "sns": explain_sns,
           "api_cpu": explain_api_cpu, "sqs_single": explain_sqs_single, "sqs_batch": explain_sqs_batch,
           "repo": explain_repo, "sns_proxy": explain_sns_proxy}


def write_results(report: dict, args, path: Path, command: str) -> None:
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    explained = "".join(EXPLAIN[group](report, args) for group in ROW_GROUPS if group in args.rows)
    text = f"""# aws-helper-sync vs aws-python-helper 0.32.0 vs Powertools for AWS Lambda

Generated by `benchmarks/bench_anchors.py` on {date}. Medians; ratios are
ours / theirs: above 1 is better where higher is better (req/s, msg/s), below 1
is better where lower is better (ms). Warm rows: median of {args.runs} samples
({args.sns_runs} for SNS), each side's first sample discarded as warm-up.

## Reproduce

```
{command}
```

## Machine

- {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}
- Python {platform.python_version()} ({platform.python_implementation()}); every venv is built from this interpreter
- Shared machine: the sides are interleaved sample by sample, so that noise from
  other processes falls on all of them alike.

## Versions

{chr(10).join(versions(report))}

## Results

{markdown_table(report)}

{chr(10).join(verdict(report))}

## Issue 15 goals

Each goal of issue 15 as measured in this run: ours against the alternative
the goal names, from the same interleaved samples as the table above. The
ratio is the median of the per-round ratios (each round runs the sides back to
back, so drifting load on a shared machine mostly cancels); it can differ a
little from the ratio of the medians in the table above.

{goal_markdown_table(report) if any(row.goals for row in report["rows"]) else "(no goal rows in this run)"}

## What each row measures, and how it is kept fair

Same routes, records, payloads and servers for every side; each side runs in its
own process (ours in the project's environment, the anchors in their venvs,
pymongo and boto3 pinned to the project's versions wherever the anchor does not pin
its own) and is driven over a pipe by the same driver.

{explained}
## Samples

{chr(10).join(samples_text(report))}

## Left out

- Powertools on the SNS row: it has no publisher utility (its users call boto3,
  which is the floor column).
- Powertools' `AsyncBatchProcessor` and threaded variants: the issue asks for
  `BatchProcessor`/`process_partial_response`, its documented default.
- Powertools and the async framework on the Repository rows (neither has a
  per-state collection cache; the floor is the dict such a cache needs), and
  Powertools on the SNS latency row (no publisher).
"""
    missing = unavailable_text(report)
    if missing:
        text += "\n## Not measurable on this tree\n\n" + "\n".join(missing) + "\n"
    problems = errors_text(report)
    if problems:
        text += "\n## Failures during this run\n\n" + "\n".join(problems) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes (2 runs, few requests/records/messages)")
    parser.add_argument("--runs", type=int, help="samples per warm row (default 9; quick 2)")
    parser.add_argument("--cold-runs", type=int, help="fresh processes per cold-start case (default 15; quick 2)")
    parser.add_argument("--sns-runs", type=int, help="samples for the SNS row (default 5; quick 2)")
    parser.add_argument("--requests", type=int, help="requests per sample, trivial route (default 2000)")
    parser.add_argument("--find-one-requests", type=int, help="requests per sample, find_one route (default 300)")
    parser.add_argument("--states", type=int, help=f"states in the SQS batch (default 8, at most {len(common.STATES)})")
    parser.add_argument("--per-state", type=int, help="SQS records per state (default 50)")
    parser.add_argument("--wait-ms", type=float, default=50.0, help="downstream wait per state group (default 50)")
    parser.add_argument("--messages", type=int, help="SNS messages per sample (default 1000)")
    parser.add_argument("--cpu-requests", type=int, help="requests per sample, API CPU rows (default 20000; quick 2000)")
    parser.add_argument("--single-records", type=int, help="records per invocation, SQS single mode (default 1000)")
    parser.add_argument("--single-invocations", type=int, help="invocations per sample, SQS single mode (default 20)")
    parser.add_argument("--noop-invocations", type=int, help="invocations per sample, SQS batch no-op (default 500)")
    parser.add_argument("--io-invocations", type=int, help="invocations per sample, SQS fan-out (default 6)")
    parser.add_argument("--io-wait-ms", type=float, default=20.0, help="I/O wait per state group, fan-out (default 20)")
    parser.add_argument("--repo-lookups", type=int, help="Repository accesses per sample (default 400000)")
    parser.add_argument("--proxy-messages", type=int, help="SNS messages per sample behind the proxy (default 1000)")
    parser.add_argument("--proxy-delay-ms", type=float, default=20.0, help="latency the proxy adds (default 20)")
    parser.add_argument("--rows", default="all",
                        help=f"comma-separated subset of {','.join(ROW_GROUPS)}, or anchors / goals / all "
                             "(default: all)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write RESULTS.md")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="anchor venvs (default $AWS_HELPER_SYNC_BENCH_CACHE or ~/.cache/aws-helper-sync-bench)")
    args = parser.parse_args(argv)
    defaults = {"runs": 9, "cold_runs": 15, "sns_runs": 5, "requests": 2000, "find_one_requests": 300,
                "states": 8, "per_state": 50, "messages": 1000, "cpu_requests": 20000, "single_records": 1000,
                "single_invocations": 20, "noop_invocations": 500, "io_invocations": 6,
                "repo_lookups": 400000, "proxy_messages": 1000}
    if args.quick:
        defaults.update(runs=2, cold_runs=2, sns_runs=2, requests=50, find_one_requests=20,
                        states=3, per_state=4, messages=25, cpu_requests=2000, single_invocations=3,
                        noop_invocations=50, io_invocations=2, repo_lookups=40000, proxy_messages=100)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    names = [name.strip() for name in args.rows.split(",") if name.strip()]
    chosen = {group for name in names for group in ROW_ALIASES.get(name, (name,))}
    unknown = chosen - set(ROW_GROUPS)
    if unknown or not chosen:
        parser.error(f"--rows takes a comma-separated subset of {','.join(ROW_GROUPS)} "
                     f"(or {', '.join(ROW_ALIASES)}); unknown: {', '.join(sorted(unknown)) or 'none given'}")
    args.rows = [group for group in ROW_GROUPS if group in chosen]
    if not 1 <= args.states <= len(common.STATES):
        parser.error(f"--states must be between 1 and {len(common.STATES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/bench_anchors.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        report = run(args, log)
    except envs.AnchorEnvError as exc:
        log(f"error: {exc}")
        return 2
    print(text_table(report))
    print()
    if any(row.goals for row in report["rows"]):
        print("Issue 15 goals (ours vs the alternative each goal names, same run):")
        print(goal_text_table(report))
        print(GOAL_NOTE)
        print()
    if _row(report, "cold_first") is not None:
        print(f"Cold start: {pymongo_share(report)}.")
        print()
    for line in verdict(report) + unavailable_text(report) + errors_text(report):
        print(line)
    write_results(report, args, args.results, command.strip())
    print(f"\nwrote {args.results}")
    return 1 if errors_text(report) else 0


if __name__ == "__main__":
    sys.exit(main())
