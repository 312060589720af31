"""examples/land_records/template.yaml (AWS SAM) is valid, and deploys what the example runs.

cfn-lint checks it after the SAM transform, with our rule E9101
(tests/cfn_rules: VisibilityTimeout >= 6x the consumer's Timeout + batching window;
cfn-lint's own E3505 only asks for 1x) and the informational checks on: no
match of any level is allowed. The handler strings, the task definition and the
environment variable names are checked against the library and the app.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.decode import decode_str

from aws_helper_sync import api_handler
from aws_helper_sync.entrypoint import load_entry_class
from aws_helper_sync.fargate.task_base import FargateTask
from aws_helper_sync.lambda_standalone.base import Lambda
from aws_helper_sync.sqs.handler import load_consumer_class
from tests.conftest import EXAMPLE_ROOT, TESTS_DIR

TEMPLATE = EXAMPLE_ROOT / "template.yaml"
RULES = TESTS_DIR / "cfn_rules"
README = TESTS_DIR.parent / "README.md"
CONFIG = ManualArgs(append_rules=[str(RULES)], include_checks=["I"], regions=["us-east-2"])


def cfn_lint(text: str) -> list[str]:
    """Every cfn-lint match (error, warning, informational) as ``"<rule id> <message>"``."""
    return [f"{match.rule.id} {match.message}" for match in lint(text, config=CONFIG)]


def template() -> dict[str, Any]:
    decoded, errors = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not errors, errors
    return decoded


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    """SAM functions with Globals applied (what the transform does for these keys)."""
    defaults = template().get("Globals", {}).get("Function", {})
    return {name: {**defaults, **r["Properties"]} for name, r in resources("AWS::Serverless::Function").items()}


def with_queue(visibility: int | None = None, consumer_timeout: int | None = None, window: int | None = None) -> str:
    """The template's text with the queue's visibility, the consumer's Timeout or batching window changed."""
    text = TEMPLATE.read_text(encoding="utf-8")
    replacements = [
        (visibility, r"(\n      VisibilityTimeout: )\d+"),
        (consumer_timeout, r"(\n      Handler: handlers\.parcel_events\n      Timeout: )\d+"),
        (window, r"(\n            MaximumBatchingWindowInSeconds: )\d+"),
    ]
    for value, pattern in replacements:
        if value is not None:
            text, count = re.subn(pattern, rf"\g<1>{value}", text)
            assert count == 1, pattern
    return text


# --- cfn-lint ---

def test_cfn_lint_finds_nothing():
    assert cfn_lint(TEMPLATE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("change", "visibility", "needed"), [
    ({"visibility": 359}, 359, 360),                            # 6x the consumer's 60 s, one short
    ({"consumer_timeout": 61}, 360, 366),                       # the function grew, the queue did not
    ({"window": 5}, 360, 365),                                  # the batching window counts too
])
def test_the_visibility_pitfall_fails_the_lint(change, visibility, needed):
    """cfn-lint alone (E3505) passes these: the visibility is above 1x the timeout; E9101 does not."""
    matches = cfn_lint(with_queue(**change))
    assert matches == [(
        f"E9101 Queue ParcelEventsQueue VisibilityTimeout {visibility} s is below 6x the Timeout of "
        f"ParcelEventsFunction ({change.get('consumer_timeout', 60)} s) plus its batching window "
        f"({change.get('window', 0)} s): {needed} s (event source mapping ParcelEventsFunctionParcelEvents)"
    )]


def test_a_visibility_below_the_timeout_is_also_cfn_lints_own_error():
    rules = {match.split()[0] for match in cfn_lint(with_queue(visibility=45))}
    assert rules == {"E3505", "E9101"}


@pytest.mark.parametrize(("wrong", "right", "rule"), [
    ("FunctionResponseType:", "FunctionResponseTypes:", "E0001"),   # a SAM event property (transform fails)
    ("RedrivePolicyX:", "RedrivePolicy:", "E3002"),                 # a CloudFormation property
    ("NetworkMode: bridge", "NetworkMode: awsvpc", "E3048"),        # Fargate needs awsvpc
])
def test_a_wrong_property_fails_the_lint(wrong, right, rule):
    text = TEMPLATE.read_text(encoding="utf-8")
    assert right in text
    assert rule in {match.split()[0] for match in cfn_lint(text.replace(right, wrong))}


# --- what the template deploys is what the example runs ---

def test_handler_strings_name_the_entry_points_of_the_app(example_app, monkeypatch):
    handlers = {}
    for name, function in functions().items():
        module_name, attribute = function["Handler"].rsplit(".", 1)
        code_root = (TEMPLATE.parent / function["CodeUri"]).resolve()
        assert code_root == example_app  # the task root is the app root: no APP_ROOT needed on Lambda
        monkeypatch.syspath_prepend(str(code_root))
        monkeypatch.delitem(sys.modules, module_name, raising=False)
        handlers[name] = getattr(importlib.import_module(module_name), attribute)

    assert set(handlers) == {"ApiFunction", "ParcelEventsFunction", "ParcelReportFunction"}
    assert handlers["ApiFunction"] is api_handler
    entry = {name: handler.__name__ for name, handler in handlers.items() if handler is not api_handler}
    assert entry == {"ParcelEventsFunction": "sqs_handler_parcel_events",
                     "ParcelReportFunction": "lambda_handler_parcel_report"}
    assert load_consumer_class("parcel_events").__name__ == "ParcelEventsConsumer"
    assert load_entry_class(Lambda, "lambda", "parcel_report", "main.py", "Lambda").__name__ == "ParcelReportLambda"


def test_the_api_routes_every_path_to_api_handler():
    (event,) = functions()["ApiFunction"]["Events"].values()
    assert event == {"Type": "HttpApi", "Properties": {"Path": "/{proxy+}", "Method": "ANY"}}


def test_the_consumer_reports_batch_item_failures_and_the_queue_has_a_dead_letter_queue():
    (event,) = functions()["ParcelEventsFunction"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["ParcelEventsQueue", "Arn"]}
    redrive = resources("AWS::SQS::Queue")["ParcelEventsQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["ParcelEventsDeadLetterQueue", "Arn"]}
    (subscription,) = resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Endpoint"] == {"Fn::GetAtt": ["ParcelEventsQueue", "Arn"]}
    assert subscription["Properties"]["TopicArn"] == {"Ref": "ParcelEventsTopic"}


def test_the_task_definition_runs_the_reindex_task_as_fargate_executor_starts_it(example_app):
    (definition,) = resources("AWS::ECS::TaskDefinition").values()
    properties = definition["Properties"]
    (container,) = properties["ContainerDefinitions"]
    # FargateExecutor().run_task("reindex") uses family "reindex" and container "reindex"
    assert properties["Family"] == container["Name"] == "reindex"
    assert (properties["RequiresCompatibilities"], properties["NetworkMode"]) == (["FARGATE"], "awsvpc")
    assert int(properties["Cpu"]) > 0 and int(properties["Memory"]) > 0
    assert container["Command"] == ["python", "-m", "aws_helper_sync.fargate"]
    assert importlib.util.find_spec("aws_helper_sync.fargate.__main__") is not None
    assert load_entry_class(FargateTask, "task", "reindex", "task.py", "Task").__name__ == "ReindexTask"
    env = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert env["MONGODB_URI"] == {"Ref": "MongoDbUri"} and env["APP_ROOT"] == container["WorkingDirectory"]


def configuration_variables() -> set[str]:
    """The variable names of README's Configuration table (``A``/``B`` suffixes expanded)."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        for cell in re.findall(r"`([^`]+)`", row.split("|")[1]):
            first, *rest = cell.split("/")
            names.add(first)
            names.update(first.rsplit("_", 1)[0] + "_" + part for part in rest)
    return names


def test_environment_variables_are_the_ones_the_library_reads():
    known = configuration_variables() | {"PARCEL_EVENTS_TOPIC_ARN"}  # the example's own (topics.py)
    assert {"MONGODB_URI", "ECS_CLUSTER", "ECS_SUBNETS", "ECS_SECURITY_GROUPS"} <= known
    function_env = template()["Globals"]["Function"]["Environment"]["Variables"]
    (definition,) = resources("AWS::ECS::TaskDefinition").values()
    task_env = {item["Name"] for item in definition["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert set(function_env) - known == set()
    assert task_env - known == set()
    assert {"MONGODB_URI", "PARCEL_EVENTS_TOPIC_ARN", "ECS_CLUSTER", "ECS_SUBNETS", "ECS_SECURITY_GROUPS"} <= set(
        function_env)
    assert function_env["ECS_SUBNETS"] == {"Fn::Join": [",", {"Ref": "TaskSubnets"}]}  # comma separated


def test_readme_template_excerpt_is_the_template():
    """README's ``yaml`` excerpt of the template: its lines appear there, in order."""
    blocks = re.findall(r"```yaml\n# examples/land_records/template.yaml \(excerpt\)\n(.*?)```",
                        README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    source = TEMPLATE.read_text(encoding="utf-8").splitlines()
    for block in blocks:
        position = 0
        for line in filter(str.strip, block.splitlines()):
            assert line in source[position:], f"template.yaml has no line {line!r} here"
            position = source.index(line, position) + 1
