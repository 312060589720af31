"""The ``aws-helper-sync`` command, run as a subprocess against SecantusDB and moto.

Exit codes: 0 success, 1 the work failed, 2 the command line is wrong. User
errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import datetime
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ROOT, REPORTS_DATABASE
from tests.example_support import parcel, parcel_events_queue
from tests.sqs_support import create_queue, queue_depth, send

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


@pytest.mark.parametrize(("name", "data", "error_type"), [
    ("parcel_report", "[1, 2]", "TypeError"),          # validate() refuses it
    ("no_such_lambda", "{}", "EntryPointNotFoundError"),
])
def test_invoke_failures_print_the_result_and_exit_1(env, mongo_client, make_state, name, data, error_type):
    result = cli("invoke", name, "--state", make_state("ohio"), "--data", data,
                 "--app-root", str(EXAMPLE_ROOT), env=env)
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["success"], answer["error_type"]) == (False, error_type)


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


@pytest.mark.parametrize(("name", "envs", "message"), [
    ("reindex", ["batch_size=zero"], "BATCH_SIZE must be a positive whole number"),
    ("no_such_task", [], "task/no_such_task/task.py not found"),
])
def test_run_task_failures_exit_1(env, mongo_client, make_state, name, envs, message):
    args = [arg for pair in envs for arg in ("--env", pair)]
    result = cli("run-task", name, "--state", make_state("ohio"), *args, "--app-root", str(EXAMPLE_ROOT), env=env)
    assert result.returncode == 1
    assert message in result.stderr


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


def test_consume_without_a_queue_url_names_the_missing_settings():
    environment = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCOUNT_ID", "SERVICE_NAME", "QUEUE_NAME", "ENV")}
    result = cli("consume", "parcel_events", "--until-empty", "--app-root", str(EXAMPLE_ROOT), env=environment)
    assert_user_error(result, 2, "get_queue_url() needs the environment variables AWS_ACCOUNT_ID, SERVICE_NAME")


@pytest.mark.parametrize(("name", "queue_name", "message"), [
    ("parcel_events", "no-such-queue", "NonExistentQueue"),
    ("no_such_consumer", None, "consumer 'no_such_consumer' not found"),
])
def test_consume_failures_exit_1_without_traceback(env, queue, name, queue_name, message):
    _, url = queue
    if queue_name is not None:
        url = url.rsplit("/", 1)[0] + f"/{queue_name}"
    result = cli("consume", name, "--queue-url", url, "--until-empty", "--wait-time", "0",
                 "--app-root", str(EXAMPLE_ROOT), env=env)
    assert_user_error(result, 1, message)


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


def test_serve_needs_an_app_root_with_api(tmp_path):
    assert_user_error(cli("serve", "--app-root", str(tmp_path)), 2, f"{tmp_path} has no api/ folder")


def test_serve_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--app-root", str(EXAMPLE_ROOT), "--port", str(port))
    assert_user_error(result, 1, f"cannot listen on 127.0.0.1:{port}")
