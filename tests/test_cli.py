"""The ``aws-helper-sync`` command, run as a subprocess against SecantusDB and moto.

Exit codes: 0 success, 1 the work failed, 2 the command line is wrong. User
errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ROOT, REPORTS_DATABASE
from tests.example_support import parcel, parcel_events_queue
from tests.servers import SecantusServer
from tests.sqs_support import create_queue, queue_arn, queue_depth, send

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "aws_helper_sync.cli"]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=REPO_ROOT, check=False)


def assert_user_error(result: subprocess.CompletedProcess, code: int, message: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def env(mongo_uri, aws) -> dict[str, str]:
    """The environment of a subprocess that talks to the test's SecantusDB and moto."""
    return {**os.environ, "MONGODB_URI": mongo_uri, "AWS_ENDPOINT_URL": aws.endpoint_url}


def seed_parcels(mongo_client, state: str, count: int) -> None:
    mongo_client[state]["parcels"].insert_many([
        {"parcel_id": f"P-{n:03d}", "county": "Hartford" if n % 2 else "Tolland", "owner": "X",
         "acres": 1.5, "recorded_at": datetime.datetime(2024, 1, 1)} for n in range(count)
    ])


# --- help, version, usage ---

@pytest.mark.parametrize("command", ["", "serve", "invoke", "run-task", "consume", "demo"])
def test_every_subcommand_has_help(command):
    result = cli(*[c for c in (command, "--help") if c])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: aws-helper-sync {command}".rstrip())


def test_help_imports_neither_boto3_nor_pymongo():
    code = (
        "import sys\n"
        "from aws_helper_sync.cli import main\n"
        "try:\n    main(['run-task', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'pymongo', 'bson') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


def test_console_script_is_installed():
    script = shutil.which("aws-helper-sync", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert script is not None, "run pip install -e '.[test]' to install the console script"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "aws-helper-sync 0.1.0")


@pytest.mark.parametrize(("args", "message"), [
    ((), "the following arguments are required: COMMAND"),
    (("deploy",), "invalid choice: 'deploy'"),
    (("invoke", "parcel_report"), "the following arguments are required: --state"),
    (("serve", "--port", "http"), "argument --port: expected a port number"),
    (("consume", "x", "--wait-time", "30"), "argument --wait-time: expected 0 to 20 seconds"),
    (("consume", "x", "--visibility-timeout", "43201"), "argument --visibility-timeout: expected 0 to 43200"),
    (("consume", "x", "--retry-delay", "-1"), "argument --retry-delay: expected 0 to 43200 seconds"),
    (("consume", "x", "--stop-check", "0"), "argument --stop-check: expected 1 to 20 seconds"),
    (("run-task", "reindex", "--state", "ohio", "--app-root", "/no/such/dir"), "/no/such/dir is not a directory"),
])
def test_command_line_errors_exit_2(args, message):
    assert_user_error(cli(*args), 2, message)


# --- invoke ---

def test_invoke_prints_the_lambda_result(env, mongo_client, make_state, tmp_path):
    state = make_state("connecticut")
    seed_parcels(mongo_client, state, 3)
    data_file = tmp_path / "data.json"
    data_file.write_text('{"county": "Hartford"}')

    everything = cli("invoke", "parcel_report", "--state", state, "--app-root", str(EXAMPLE_ROOT), env=env)
    hartford = cli("invoke", "parcel_report", "--state", state, "--data", f"@{data_file}",
                   "--app-root", str(EXAMPLE_ROOT), env=env)

    assert everything.returncode == 0, everything.stderr
    result = json.loads(everything.stdout)
    assert result["success"] is True
    assert (result["data"]["state"], result["data"]["total_parcels"]) == (state, 3)
    assert hartford.returncode == 0, hartford.stderr
    assert json.loads(hartford.stdout)["data"]["counties"] == [{"county": "Hartford", "parcels": 1, "acres": 1.5}]
    assert mongo_client[REPORTS_DATABASE]["parcel_reports"].count_documents({"state": state}) == 2


def test_invoke_failures_print_the_result_and_exit_1(env, mongo_client, make_state):
    result = cli("invoke", "parcel_report", "--state", make_state("ohio"), "--data", "[1, 2]",
                 "--app-root", str(EXAMPLE_ROOT), env=env)
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["success"], answer["error_type"]) == (False, "TypeError")  # validate() refuses it


@pytest.mark.parametrize(("args", "extra_env", "message"), [
    (("--state", "New York"), {}, "argument --state: invalid constitution-state 'New York'"),
    (("--state", "admin"), {}, "reserved MongoDB database name"),
    (("--state", "ohio"), {"ALLOWED_STATES": "texas"}, "'ohio' is not in ALLOWED_STATES"),
    (("--state", "ohio", "--data", "{not json"), {}, "argument --data: not valid JSON"),
    (("--state", "ohio", "--data", "@/no/such/file.json"), {}, "argument --data: cannot read /no/such/file.json"),
])
def test_invoke_invalid_input_exits_2_with_the_validation_message(args, extra_env, message):
    result = cli("invoke", "parcel_report", *args, env={**os.environ, **extra_env})
    assert_user_error(result, 2, message)


def test_invoke_refuses_a_name_that_is_not_a_folder_name():
    assert_user_error(cli("invoke", "../etc", "--state", "ohio"), 2, "invalid lambda name '../etc'")


# --- run-task ---

def test_run_task_runs_the_task_with_the_container_environment(env, mongo_client, make_state):
    state = make_state("ohio")
    seed_parcels(mongo_client, state, 3)

    result = cli("run-task", "reindex", "--state", state, "--env", "batch_size=2",
                 "--app-root", str(EXAMPLE_ROOT), env=env)

    assert result.returncode == 0, result.stderr
    assert mongo_client[state]["parcel_history"].count_documents({"type": "parcel.recorded"}) == 3
    assert f"[{state}] ReindexTask: " in result.stderr  # the log lines carry the state
    assert "3 parcels checked, 3 history entries repaired" in result.stderr


def test_run_task_failures_exit_1(env, mongo_client, make_state):
    result = cli("run-task", "reindex", "--state", make_state("ohio"), "--env", "batch_size=zero",
                 "--app-root", str(EXAMPLE_ROOT), env=env)
    assert result.returncode == 1
    assert "BATCH_SIZE must be a positive whole number" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--state", "ohio", "--env", "batch_size"), "argument --env: expected NAME=VALUE, got 'batch_size'"),
    (("--state", "ohio", "--env", "constitution_state=texas"), "CONSTITUTION_STATE=texas contradicts --state ohio"),
    (("--state", "Ohio"), "argument --state: invalid constitution-state 'Ohio'"),
])
def test_run_task_invalid_input_exits_2(args, message):
    assert_user_error(cli("run-task", "reindex", *args), 2, message)


# --- consume ---

@pytest.fixture
def queue(boto_client, unique):
    sqs = boto_client("sqs")
    return sqs, create_queue(sqs, f"{unique}-parcel-events")


def event(parcel_id: str) -> dict:
    return {"event_id": f"{parcel_id}:recorded", "type": "parcel.recorded", "parcel_id": parcel_id,
            "occurred_at": "2024-05-06T07:08:09+00:00", "parcel": parcel(parcel_id)}


def test_consume_drains_the_queue_until_empty(env, mongo_client, make_state, queue):
    sqs, url = queue
    ohio, texas = make_state("ohio"), make_state("texas")
    for state, parcel_id in ((ohio, "P-001"), (texas, "P-002"), (ohio, "P-003")):
        send(sqs, url, event(parcel_id), state=state)

    result = cli("consume", "parcel_events", "--queue-url", url, "--until-empty", "--wait-time", "0",
                 "--app-root", str(EXAMPLE_ROOT), env=env)

    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["received"], stats["succeeded"], stats["failed"], stats["deleted"]) == (3, 3, 0, 3)
    assert mongo_client[ohio]["parcel_history"].count_documents({}) == 2
    assert mongo_client[texas]["parcel_history"].count_documents({}) == 1
    assert queue_depth(sqs, url) == (0, 0)


def test_consume_exits_1_when_a_message_failed_and_leaves_it_queued(env, mongo_client, make_state, queue):
    sqs, url = queue
    state = make_state("ohio")
    send(sqs, url, event("P-001"), state=state)
    send(sqs, url, {"not": "an event"}, state=state)

    result = cli("consume", "parcel_events", "--queue-url", url, "--until-empty", "--wait-time", "0",
                 "--visibility-timeout", "30", "--app-root", str(EXAMPLE_ROOT), env=env)

    assert result.returncode == 1
    stats = json.loads(result.stdout)
    assert (stats["succeeded"], stats["failed"], stats["deleted"]) == (1, 1, 1)
    assert "not a parcel event: missing event_id" in result.stderr
    assert queue_depth(sqs, url) == (0, 1)  # the failed one waits for redelivery


def test_consume_help_shows_the_visibility_and_stop_options():
    result = cli("consume", "--help")
    for option in ("--visibility-timeout", "--no-heartbeat", "--retry-delay", "--stop-check"):
        assert option in result.stdout


def test_consume_retry_delay_0_with_until_empty_retries_within_the_drain(env, mongo_client, make_state,
                                                                          boto_client, unique):
    sqs = boto_client("sqs")
    dlq = create_queue(sqs, f"{unique}-dlq")
    url = create_queue(sqs, f"{unique}-parcel-events", VisibilityTimeout=30, RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "2"}))
    send(sqs, url, {"not": "an event"}, state=make_state("ohio"))

    result = cli("consume", "parcel_events", "--queue-url", url, "--until-empty", "--wait-time", "0",
                 "--retry-delay", "0", "--app-root", str(EXAMPLE_ROOT), env=env)

    assert result.returncode == 1
    stats = json.loads(result.stdout)
    assert (stats["received"], stats["failed"], stats["released"]) == (2, 2, 2)  # not 30 s apart
    assert queue_depth(sqs, url) == (0, 0)
    assert queue_depth(sqs, dlq) == (1, 0)


def test_consume_no_heartbeat_lets_a_slow_batch_become_visible(env, boto_client, unique, tmp_path):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-slow")  # visibility 1 s
    send(sqs, url, {"n": 1})
    process = subprocess.Popen(
        [*COMMAND, "consume", "slow_batch", "--queue-url", url, "--until-empty", "--no-heartbeat",
         "--app-root", str(REPO_ROOT / "tests" / "app")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**env, "SLOW_BATCH_DIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists():
            assert process.poll() is None and time.monotonic() < deadline, "no batch started"
            time.sleep(0.02)
        time.sleep(1.5)
        visible_during_the_batch = queue_depth(sqs, url)
        (tmp_path / "go").write_text("")
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert visible_during_the_batch == (1, 0)  # no heartbeat: another consumer could take it now
    stats = json.loads(stdout)
    assert (stats["extended"], stats["deleted"]) == (0, 1), stderr


def test_consume_without_a_queue_url_names_the_missing_settings():
    environment = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCOUNT_ID", "SERVICE_NAME", "QUEUE_NAME", "ENV")}
    result = cli("consume", "parcel_events", "--until-empty", "--app-root", str(EXAMPLE_ROOT), env=environment)
    assert_user_error(result, 2, "get_queue_url() needs the environment variables AWS_ACCOUNT_ID, SERVICE_NAME")


def test_consume_failures_exit_1_without_traceback(env, queue):
    _, url = queue
    url = url.rsplit("/", 1)[0] + "/no-such-queue"
    result = cli("consume", "parcel_events", "--queue-url", url, "--until-empty", "--wait-time", "0",
                 "--app-root", str(EXAMPLE_ROOT), env=env)
    assert_user_error(result, 1, "NonExistentQueue")


# --- serve ---

def http(url: str, state: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
    if state:
        request.add_header("constitution-state", state)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_real_http_requests_and_stops_on_sigterm(env, mongo_client, boto_client, unique,
                                                               make_state, monkeypatch):
    parcel_events_queue(boto_client, unique, monkeypatch)  # sets PARCEL_EVENTS_TOPIC_ARN
    state = make_state("connecticut")
    process = subprocess.Popen(
        [*COMMAND, "serve", "--app-root", str(EXAMPLE_ROOT), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "PARCEL_EVENTS_TOPIC_ARN": os.environ["PARCEL_EVENTS_TOPIC_ARN"]},
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "serve printed nothing in 30 s"
        banner = process.stdout.readline()
        assert banner.startswith(f"Serving {EXAMPLE_ROOT} at http://127.0.0.1:"), banner
        url = banner.split(" at ", 1)[1].split()[0]

        assert http(f"{url}/parcels", state, parcel("HFD-0001"))[0] == 201
        status, body = http(f"{url}/parcels", state)
        assert (status, [p["parcel_id"] for p in body["items"]]) == (200, ["HFD-0001"])
        status, body = http(f"{url}/parcels")
        assert status == 400
        assert body["message"].startswith("constitution-state header is required")
        status, body = http(f"{url}/titles/1", state)
        assert (status, body["message"]) == (404, "No route for GET /titles/1")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert mongo_client[state]["parcels"].count_documents({}) == 1
    # no state registry configured: serve says that any well-formed state gets in (issue 11 §1)
    assert "WARNING: no state registry configured" in stderr
    assert "WARNING: MongoDB" not in stderr  # its ping was answered


def test_serve_needs_an_app_root_with_api(tmp_path):
    assert_user_error(cli("serve", "--app-root", str(tmp_path)), 2, f"{tmp_path} has no api/ folder")


def test_serve_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--app-root", str(EXAMPLE_ROOT), "--port", str(port))
    assert_user_error(result, 1, f"cannot listen on 127.0.0.1:{port}")


# --- the README's "Command line" block, pasted from the repository root (issue 13 §6) ---

README_BLOCK = re.compile(r"^## Command line\n.*?```bash\n(.*?)```", re.DOTALL | re.MULTILINE)


def readme_commands() -> list[str]:
    """The commands of README's "Command line" block, continuation lines joined, as a shell reads them."""
    match = README_BLOCK.search((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no bash block under '## Command line'"
    return [line.strip() for line in match.group(1).replace("\\\n", " ").splitlines() if line.strip()]


def readme_command(word: str) -> str:
    """The one README command that starts with ``word`` (``aws-helper-sync invoke``, ``curl``...)."""
    found = [command for command in readme_commands() if command.startswith(word)]
    assert len(found) == 1, f"README's Command line block should have one {word!r} command: {found}"
    return found[0]


def shell_environment(extra: dict[str, str]) -> dict[str, str]:
    """A reader's shell: this Python's ``python`` and ``aws-helper-sync`` first on PATH, no APP_ROOT."""
    # as a reader has it: no APP_ROOT, and the example's reports in "core" (the suite's REPORTS_DATABASE
    # prefix is for the shared server; these commands run on a server of their own)
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("APP_ROOT", "LAMBDA_TASK_ROOT", "REPORTS_DATABASE")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    return {**environment, **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sh(command: str, environment: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=environment,
                          cwd=REPO_ROOT, timeout=timeout, check=False)


@pytest.fixture
def own_mongo():
    """A SecantusDB of this test alone: the README's commands write to connecticut and core as
    written, which must not touch the databases of the suite's (maybe external) MONGODB_URI."""
    server = SecantusServer().start()
    try:
        yield server.uri
    finally:
        server.stop()


def test_readme_command_line_block_names_only_commands_this_module_runs():
    known = ("aws-helper-sync serve ", "curl ", "AWS_ENDPOINT_URL_LAMBDA=", "aws-helper-sync invoke ",
             "aws-helper-sync run-task ", "aws-helper-sync consume ", "aws-helper-sync demo")
    for command in readme_commands():
        assert command.startswith(known), f"add a test for the README command {command!r}"
    for command in ("invoke", "run-task", "consume"):  # they load app code: pasted from the root they need it
        assert "--app-root examples/land_records" in readme_command(f"aws-helper-sync {command} ")


def test_readme_command_line_block_runs_from_the_repo_root(own_mongo, aws, boto_client, unique):
    """serve, curl and LambdaInvoker against it, invoke, run-task, consume: each line as the README
    writes it, run by bash from the repository root. Only serve's port 8000 becomes a free port
    (the suite runs beside other work); QUEUE_URL is a moto queue, as the README comment says."""
    from pymongo import MongoClient

    client = MongoClient(own_mongo)
    client["connecticut"]["parcels"].insert_many([
        {"parcel_id": f"HFD-{n:04d}", "county": "Hartford" if n % 2 else "Tolland", "owner": "X",
         "acres": 2.0, "recorded_at": datetime.datetime(2024, 1, 1)} for n in range(1, 4)
    ])
    sqs = boto_client("sqs")
    queue_url = create_queue(sqs, f"{unique}-parcel-events")
    send(sqs, queue_url, event("HFD-0009"), state="connecticut")
    port = str(free_port())
    environment = shell_environment({"MONGODB_URI": own_mongo, "AWS_ENDPOINT_URL": aws.endpoint_url,
                                     "QUEUE_URL": queue_url})

    def as_written(word: str) -> str:
        return readme_command(word).replace("8000", port)

    serve = subprocess.Popen(["bash", "-c", "exec " + as_written("aws-helper-sync serve ")], cwd=REPO_ROOT,
                             env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([serve.stdout], [], [], 30)
        assert ready, "serve printed nothing in 30 s"
        assert serve.stdout.readline().startswith(f"Serving {EXAMPLE_ROOT} at http://127.0.0.1:{port}")

        listed = sh(as_written("curl "), environment)
        assert listed.returncode == 0, listed.stderr
        assert [p["parcel_id"] for p in json.loads(listed.stdout)["items"]] == ["HFD-0001", "HFD-0002", "HFD-0003"]

        invoked = sh(as_written("AWS_ENDPOINT_URL_LAMBDA="), environment)
        assert invoked.returncode == 0, invoked.stderr
        assert "'state': 'connecticut'" in invoked.stdout and "'total_parcels': 3" in invoked.stdout
    finally:
        serve.terminate()
        _, serve_stderr = serve.communicate(timeout=30)
    assert serve.returncode == 0, serve_stderr
    assert "WARNING: MongoDB" not in serve_stderr

    invoke = sh(readme_command("aws-helper-sync invoke "), environment)
    assert invoke.returncode == 0, invoke.stderr
    report = json.loads(invoke.stdout)
    assert (report["success"], report["data"]["state"], report["data"]["total_parcels"]) == (True, "connecticut", 2)
    assert report["data"]["counties"] == [{"county": "Hartford", "parcels": 2, "acres": 4.0}]

    task = sh(readme_command("aws-helper-sync run-task "), environment)
    assert task.returncode == 0, task.stderr
    assert "3 parcels checked, 3 history entries repaired" in task.stderr

    consume = sh(readme_command("aws-helper-sync consume "), environment)
    assert consume.returncode == 0, consume.stderr
    stats = json.loads(consume.stdout)
    assert (stats["received"], stats["succeeded"], stats["deleted"]) == (1, 1, 1)
    assert client["connecticut"]["parcel_history"].count_documents({"parcel_id": "HFD-0009"}) == 1
    assert client["core"]["parcel_reports"].count_documents({"state": "connecticut"}) == 2  # LambdaInvoker + invoke
    client.close()


@pytest.mark.slow  # about 10 s; tests/test_demo.py runs the demo itself in the default suite
def test_readme_command_line_demo_runs_from_the_repo_root():
    result = sh(readme_command("aws-helper-sync demo"), shell_environment({}), timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


# --- user errors: one line on stderr, exit 2, the app root named (issue 13 §6) ---

def one_line_error(result: subprocess.CompletedProcess, *parts: str) -> str:
    """The only stderr line of a user error: exit 2, every part in it, no traceback, nothing on stdout."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def quiet_environment(**extra: str) -> dict[str, str]:
    """ALLOWED_STATES set (no registry warning line), no APP_ROOT."""
    # as a reader has it: no APP_ROOT, and the example's reports in "core" (the suite's REPORTS_DATABASE
    # prefix is for the shared server; these commands run on a server of their own)
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("APP_ROOT", "LAMBDA_TASK_ROOT", "REPORTS_DATABASE")}
    return {**environment, "ALLOWED_STATES": "ohio", **extra}


@pytest.mark.parametrize(("args", "kind", "expected"), [
    (("invoke", "parcel_report", "--state", "ohio"), "lambda", "lambda/parcel_report/main.py"),
    (("run-task", "reindex", "--state", "ohio"), "task", "task/reindex/task.py"),
])
def test_a_missing_entry_point_names_the_app_root_and_where_it_came_from(args, kind, expected, tmp_path):
    from_cwd = cli(*args, env=quiet_environment())  # pasted from the repo root without --app-root
    from_variable = cli(*args, env=quiet_environment(APP_ROOT=str(tmp_path)))

    one_line_error(from_cwd, f"no {kind} '{args[1]}' under {REPO_ROOT}/{kind}/", f"expected {expected}",
                   f"app root {REPO_ROOT} from the working directory; pass --app-root DIR or set APP_ROOT")
    one_line_error(from_variable, f"under {tmp_path}/{kind}/", f"app root {tmp_path} from APP_ROOT")


def test_consume_of_a_missing_consumer_names_the_app_root(tmp_path):
    result = cli("consume", "parcel_events", "--queue-url", "http://127.0.0.1:1/123456789012/q", "--until-empty",
                 env=quiet_environment())
    one_line_error(result, "consumer 'parcel_events' not found",
                   f"app root {REPO_ROOT} from the working directory; pass --app-root DIR or set APP_ROOT")


def test_sync_indexes_without_repositories_names_the_app_root(tmp_path):
    from_option = cli("sync-indexes", "--states", "ohio", "--app-root", str(tmp_path), env=quiet_environment())
    from_cwd = cli("sync-indexes", "--states", "ohio", env=quiet_environment(APP_ROOT=str(tmp_path)))
    one_line_error(from_option, f"no Repository subclass found under {tmp_path} (app root {tmp_path} from --app-root")
    one_line_error(from_cwd, f"app root {tmp_path} from APP_ROOT; pass --app-root DIR or set APP_ROOT")


@pytest.mark.parametrize(("command", "path", "source", "message"), [
    ("invoke", "lambda/empty/main.py", "x = 1\n", "lambda/empty/main.py must define class EmptyLambda(Lambda)"),
    ("run-task", "task/empty/task.py", "x = 1\n", "task/empty/task.py must define class EmptyTask(FargateTask)"),
    ("consume", "consumer/empty.py", "x = 1\n", "consumer/empty.py must define class EmptyConsumer(SQSConsumer)"),
])
def test_a_file_without_its_class_is_a_user_error(tmp_path, command, path, source, message):
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(source)
    args = ["--state", "ohio"] if command != "consume" else ["--queue-url", "http://127.0.0.1:1/1/q"]
    result = cli(command, "empty", *args, "--app-root", str(tmp_path), env=quiet_environment())
    one_line_error(result, message, f"app root {tmp_path} from --app-root")


@pytest.mark.parametrize("command", ["invoke", "run-task"])
def test_a_configuration_error_is_one_line_with_exit_2(command):
    environment = {k: v for k, v in quiet_environment().items() if not k.startswith(("MONGODB_", "MONGO_DB_"))}
    name = "parcel_report" if command == "invoke" else "reindex"
    result = cli(command, name, "--state", "ohio", "--app-root", str(EXAMPLE_ROOT), env=environment)
    one_line_error(result, f"aws-helper-sync {command}: error: MongoDB connection not configured", "MONGODB_URI")


def test_consume_without_mongodb_is_a_user_error_and_leaves_the_messages_queued(aws, boto_client, unique):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-parcel-events", VisibilityTimeout=30)
    for parcel_id in ("P-001", "P-002"):
        send(sqs, url, event(parcel_id), state="ohio")
    environment = {k: v for k, v in quiet_environment().items() if not k.startswith(("MONGODB_", "MONGO_DB_"))}

    result = cli("consume", "parcel_events", "--queue-url", url, "--until-empty", "--wait-time", "0",
                 "--app-root", str(EXAMPLE_ROOT), env={**environment, "AWS_ENDPOINT_URL": aws.endpoint_url})

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("aws-helper-sync consume: error: MongoDB connection not configured"), last
    assert "(2 message(s) failed, left in the queue for redelivery)" in last
    assert json.loads(result.stdout)["deleted"] == 0
    assert queue_depth(sqs, url) == (0, 2)  # never acknowledged


@pytest.mark.parametrize(("args", "prog", "message"), [
    (("invoke", "parcel_report", "--state", "ohio", "--bogus"), "aws-helper-sync", "unrecognized arguments: --bogus"),
    (("consume", "parcel_events", "--wait-time", "30"), "aws-helper-sync consume", "argument --wait-time: "),
    (("run-task", "reindex", "--state", "New York"), "aws-helper-sync run-task", "argument --state: "),
    (("serve", "--port", "http"), "aws-helper-sync serve", "argument --port: "),
    (("invoke", "parcel_report", "--state", "ohio", "--log-level", "LOUD"), "aws-helper-sync invoke",
     "argument --log-level: invalid choice: 'LOUD'"),
    (("deploy",), "aws-helper-sync", "argument COMMAND: invalid choice: 'deploy'"),
])
def test_a_bad_option_is_one_line_pointing_at_help(args, prog, message):
    one_line_error(cli(*args, env=quiet_environment()), f"{prog}: error: {message}", f"(see {prog} --help)")


def test_an_empty_queue_url_says_so():
    result = cli("consume", "parcel_events", "--queue-url", "", "--app-root", str(EXAMPLE_ROOT),
                 env=quiet_environment())
    one_line_error(result, "argument --queue-url: empty (is the variable you passed, e.g. $QUEUE_URL, set?)")


@pytest.mark.parametrize("command", ["invoke", "run-task"])
def test_a_state_the_registry_does_not_know_is_a_user_error(env, mongo_client, unique, command):
    mongo_client[f"{unique}_core"]["states"].insert_one({"name": f"{unique}_ohio", "status": "active"})
    environment = {**env, "STATES_COLLECTION": f"{unique}_core.states"}
    name = "parcel_report" if command == "invoke" else "reindex"
    result = cli(command, name, "--state", f"{unique}_utah", "--app-root", str(EXAMPLE_ROOT), env=environment)
    one_line_error(result, f"aws-helper-sync {command}: error: argument --state: ", f"{unique}_utah")
    assert f"{unique}_utah" not in mongo_client.list_database_names()


# --- --log-level after the subcommand ---

def test_log_level_after_the_subcommand_shows_the_traceback_of_a_user_error():
    environment = {k: v for k, v in quiet_environment().items() if not k.startswith(("MONGODB_", "MONGO_DB_"))}
    args = ("invoke", "parcel_report", "--state", "ohio", "--app-root", str(EXAMPLE_ROOT))

    after = cli(*args, "--log-level", "DEBUG", env=environment)
    later_wins = cli("--log-level", "DEBUG", *args, "--log-level", "ERROR", env=environment)
    before = cli("--log-level", "debug", *args, env=environment)

    assert after.returncode == before.returncode == 2
    assert "Traceback" in after.stderr and "ConfigurationError" in after.stderr
    assert "Traceback" in before.stderr
    one_line_error(later_wins, "MongoDB connection not configured")


def test_log_level_after_the_subcommand_quiets_the_warnings():
    environment = {k: v for k, v in os.environ.items() if k != "ALLOWED_STATES"}
    noisy = cli("run-task", "reindex", "--state", "ohio", env=environment)
    quiet = cli("run-task", "reindex", "--state", "ohio", "--log-level", "error", env=environment)
    assert "WARNING" in noisy.stderr  # no state registry configured
    one_line_error(quiet, "no task 'reindex' under")


@pytest.mark.parametrize("command", ["serve", "invoke", "run-task", "consume", "sync-indexes", "demo"])
def test_every_subcommand_accepts_log_level_after_it(command):
    result = cli(command, "--log-level", "DEBUG", "--help")
    assert result.returncode == 0, result.stderr
    assert "--log-level" in result.stdout


# --- serve pings MongoDB at start ---

def start_serve(environment: dict[str, str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([*COMMAND, "serve", "--app-root", str(EXAMPLE_ROOT), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "serve printed nothing in 30 s"
    banner = process.stdout.readline()
    assert banner.startswith("Serving "), banner
    return process, banner.split(" at ", 1)[1].split()[0]


def stop_serve(process: subprocess.Popen) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


@pytest.mark.parametrize(("mongodb", "warning"), [
    ({"MONGODB_URI": "mongodb://reader:s3cret@127.0.0.1:1/land?authSource=admin"},
     "WARNING: MongoDB at 127.0.0.1:1 (from MONGODB_URI) did not answer a ping within 2 s"),
    ({"MONGO_DB_HOST": "127.0.0.1:1", "MONGO_DB_USER": "reader", "MONGO_DB_PASSWORD": "s3cret"},
     "WARNING: MongoDB at 127.0.0.1:1 (from MONGO_DB_HOST) did not answer a ping within 2 s"),
    ({}, "WARNING: MongoDB is not configured: set MONGODB_URI (or MONGO_DB_URI, or MONGO_DB_HOST"),
])
def test_serve_warns_when_mongodb_is_unreachable_or_not_configured_and_serves_anyway(mongodb, warning):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "MONGO_DB_"))}
    process, url = start_serve({**environment, **mongodb})
    try:
        status, body = http(f"{url}/parcels")  # a route answered without the database
        assert (status, body["message"][:36]) == (400, "constitution-state header is require")
        assert http(f"{url}/titles/1", "ohio")[0] == 404
    finally:
        stderr = stop_serve(process)
    line = next(line for line in stderr.splitlines() if line.startswith(warning))
    assert "MONGODB_URI (or MONGO_DB_URI, or MONGO_DB_HOST" in line  # the variables to check are named
    assert "routes that use the database will fail" in line
    assert "s3cret" not in stderr and "Traceback" not in stderr
