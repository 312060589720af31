"""aws-helper-sync against the async aws-python-helper 0.32.0 and Powertools 3.x, in one run.

Every framework runs the same workloads (same routes, records, payloads, the
same SecantusDB and moto servers) in its own process: ours in the project's
environment, the anchors under isolated venvs (``anchors/envs.py``), beside a
raw pymongo / boto3 floor. Warm workers stay alive and their samples are
interleaved, so machine noise falls on every side alike. Prints one table of
medians with ratios and writes ``RESULTS.md``.

    python benchmarks/bench_anchors.py                 # full run (several minutes)
    python benchmarks/bench_anchors.py --quick         # smoke-sized run
    python benchmarks/bench_anchors.py --results /tmp/RESULTS.md --cache-dir /tmp/venvs

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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANCHORS = HERE / "anchors"
DEFAULT_RESULTS = HERE / "RESULTS.md"

OURS, ASYNC, POWERTOOLS, FLOOR = "ours", "async", "powertools", "floor"
LABELS = {OURS: "aws-helper-sync", ASYNC: "aws-python-helper", POWERTOOLS: "Powertools", FLOOR: "floor"}
SCRIPTS = {OURS: "work_ours.py", ASYNC: "work_async.py", POWERTOOLS: "work_powertools.py", FLOOR: "work_floor.py"}

ROW_GROUPS = ("cold", "api", "sqs", "sns")

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


@dataclass
class Row:
    """One line of the table: a median per side, the floor, and which way is better."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    samples: dict = field(default_factory=dict)  # side -> [values]
    errors: dict = field(default_factory=dict)  # side -> message

    def median(self, side: str) -> float | None:
        values = self.samples.get(side)
        return statistics.median(values) if values else None

    def ratio(self, theirs: str) -> float | None:
        ours, other = self.median(OURS), self.median(theirs)
        if ours is None or not other:
            return None
        return ours / other

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

    def __init__(self, side: str, python: str, env: dict, log_dir: Path) -> None:
        self.side = side
        self.log_path = log_dir / f"{side}.log"
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
    imports (``import pymongo``/``boto3``).
    """
    ours_env = dict(env, PYTHONPATH=str(REPO))
    rows = [
        Row("cold_api", "cold start: import the API handler module", "ms", False),
        Row("cold_batch", "cold start: import the SQS batch module", "ms", False),
        Row("cold_first", "cold start: fresh process to first find_one response", "ms", False),
    ]
    cases = []  # (row, side, argv); row None: a reference import
    for row, kind in ((rows[0], "api"), (rows[1], "batch")):
        for side, code in COLD_IMPORTS[kind].items():
            cases.append((row, side, [pythons[side], "-c", _ready_code(code)]))
        cases.append((row, FLOOR, [pythons[OURS], "-c", _ready_code("pass")]))
    for side in (OURS, ASYNC, POWERTOOLS, FLOOR):
        cases.append((rows[2], side, [pythons[side], str(ANCHORS / SCRIPTS[side]), "--cold"]))
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
    return rows, {name: statistics.median(values) for name, values in reference_samples.items()}


def sample(workers: dict, row: Row, sides: list[str], runs: int, params, log) -> None:
    """One discarded warm-up call per side, then ``runs`` rounds, each side once per round."""
    active = []
    for side in sides:
        result = workers[side].call(**params(-1, side))
        if result["ok"]:
            active.append(side)
        else:
            row.errors[side] = result["error"]
            log(f"  {row.title}: {LABELS[side]} failed: {result['error']}")
    for run in range(runs):
        for side in list(active):
            result = workers[side].call(**params(run, side))
            if result["ok"]:
                row.samples.setdefault(side, []).append(result["value"])
            else:
                row.errors[side] = result["error"]
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

        if set(args.rows) & {"api", "sqs", "sns"}:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-anchors-")))
            worker_python = {OURS: sys.executable, ASYNC: venv_python[ASYNC],
                             POWERTOOLS: venv_python[POWERTOOLS], FLOOR: sys.executable}
            workers = {}
            for side, python in worker_python.items():
                workers[side] = Worker(side, python, env, log_dir)
                stack.callback(workers[side].close)
            if "api" in args.rows:
                run_api(workers, args, report, log)
            if "sqs" in args.rows:
                run_sqs(workers, args, report, log)
            if "sns" in args.rows:
                run_sns(workers, args, report, log, create_topic(endpoint, region, env))
    return report


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


# -- output -------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if unit == "ms":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def fmt_ratio(row: Row, theirs: str) -> str:
    ratio = row.ratio(theirs)
    if ratio is None:
        return "n/a" if theirs not in row.samples and theirs not in row.errors else "failed"
    return f"{ratio:.2f}x"


TABLE_HEADER = ("row", "unit", "better", LABELS[OURS], LABELS[ASYNC], LABELS[POWERTOOLS],
                "floor", "ours/async", "ours/PT")


def table_cells(report: dict) -> list[tuple[str, ...]]:
    cells = []
    for row in report["rows"]:
        cells.append((
            row.title, row.unit, "higher" if row.higher_is_better else "lower",
            *(fmt(row.median(side), row.unit) if side in row.samples or side in row.errors else "-"
              for side in (OURS, ASYNC, POWERTOOLS, FLOOR)),
            fmt_ratio(row, ASYNC), fmt_ratio(row, POWERTOOLS) if POWERTOOLS in row.samples or
            POWERTOOLS in row.errors else "-",
        ))
    return cells


def text_table(report: dict) -> str:
    rows = [TABLE_HEADER, *table_cells(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(report: dict) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |",
             "|" + "|".join([":---", ":---", ":---"] + ["---:"] * (len(TABLE_HEADER) - 3)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_cells(report)]
    return "\n".join(lines)


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
                 for side in (OURS, ASYNC, POWERTOOLS, FLOOR) if row.samples.get(side)]
        lines.append(f"- {row.title} ({row.unit}): " + "; ".join(parts))
    return lines


def errors_text(report: dict) -> list[str]:
    lines = []
    for row in report["rows"]:
        for side, error in row.errors.items():
            lines.append(f"- {row.title} / {LABELS[side]}: {error}")
    return lines


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


EXPLAIN = {"cold": explain_cold, "api": explain_api, "sqs": explain_sqs, "sns": explain_sns}


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
"""
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
    parser.add_argument("--rows", default="cold,api,sqs,sns",
                        help="comma-separated subset of cold,api,sqs,sns (default: all)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write RESULTS.md")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="anchor venvs (default $AWS_HELPER_SYNC_BENCH_CACHE or ~/.cache/aws-helper-sync-bench)")
    args = parser.parse_args(argv)
    defaults = {"runs": 9, "cold_runs": 15, "sns_runs": 5, "requests": 2000, "find_one_requests": 300,
                "states": 8, "per_state": 50, "messages": 1000}
    if args.quick:
        defaults.update(runs=2, cold_runs=2, sns_runs=2, requests=50, find_one_requests=20,
                        states=3, per_state=4, messages=25)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.rows = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = set(args.rows) - set(ROW_GROUPS)
    if unknown or not args.rows:
        parser.error(f"--rows takes a comma-separated subset of {','.join(ROW_GROUPS)}")
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
    for line in verdict(report) + errors_text(report):
        print(line)
    write_results(report, args, args.results, command.strip())
    print(f"\nwrote {args.results}")
    return 1 if errors_text(report) else 0


if __name__ == "__main__":
    sys.exit(main())
