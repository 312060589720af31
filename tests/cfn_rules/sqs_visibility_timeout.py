"""cfn-lint rule E9101: an SQS queue's VisibilityTimeout is at least 6x its Lambda consumer's Timeout.

cfn-lint's own E3505 only requires the visibility timeout to be >= the function
timeout. AWS advises 6x the function timeout plus the batching window: a batch
that is retried (throttling, a slow invocation) must not become visible again,
and be handed to a second invocation, while the first still processes it.
It runs on the template after the SAM transform, so a function's Timeout from
``Globals`` and the event source mapping SAM generates for an ``SQS`` event are
what is checked. Values that are not literal numbers (a ``!Ref`` parameter) are
not checked.

    cfn-lint --append-rules tests/cfn_rules examples/land_records/template.yaml
"""

from __future__ import annotations

from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch

FACTOR = 6
DEFAULTS = {"VisibilityTimeout": 30, "Timeout": 3, "MaximumBatchingWindowInSeconds": 0}  # CloudFormation's


def _target(value: Any, suffix: str) -> str | None:
    """The logical id in ``!GetAtt X.Arn`` / ``!Ref X`` (``suffix`` "Arn" or None), else None."""
    if isinstance(value, dict) and len(value) == 1:
        if suffix and "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            parts = att.split(".", 1) if isinstance(att, str) else list(att)
            if len(parts) == 2 and parts[1] == suffix and isinstance(parts[0], str):
                return parts[0]
        if not suffix and isinstance(value.get("Ref"), str):
            return value["Ref"]
    return None


def _seconds(properties: dict[str, Any], name: str) -> int | None:
    value = properties.get(name, DEFAULTS[name])
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class SqsVisibilityTimeoutSixTimes(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "SQS VisibilityTimeout is at least 6x the consuming function's Timeout"
    description = (
        "A queue consumed by a Lambda event source mapping needs a VisibilityTimeout of at "
        "least 6 times the function's Timeout plus MaximumBatchingWindowInSeconds"
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"
    tags: ClassVar[list[str]] = ["resources", "lambda", "sqs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        resources = cfn.template.get("Resources", {})
        matches = []
        for name, mapping in cfn.get_resources(["AWS::Lambda::EventSourceMapping"]).items():
            properties = mapping.get("Properties", {})
            queue_id = _target(properties.get("EventSourceArn"), "Arn")
            function_id = _target(properties.get("FunctionName"), None)
            queue, function = resources.get(queue_id or ""), resources.get(function_id or "")
            if not queue or queue.get("Type") != "AWS::SQS::Queue":
                continue
            if not function or function.get("Type") != "AWS::Lambda::Function":
                continue
            queue_properties = queue.get("Properties", {})
            visibility = _seconds(queue_properties, "VisibilityTimeout")
            timeout = _seconds(function.get("Properties", {}), "Timeout")
            window = _seconds(properties, "MaximumBatchingWindowInSeconds")
            if visibility is None or timeout is None or window is None:
                continue
            needed = FACTOR * timeout + window
            if visibility < needed:
                path = ["Resources", queue_id, "Properties"]
                if "VisibilityTimeout" in queue_properties:
                    path.append("VisibilityTimeout")
                matches.append(RuleMatch(path, (
                    f"Queue {queue_id} VisibilityTimeout {visibility} s is below {FACTOR}x the Timeout of "
                    f"{function_id} ({timeout} s) plus its batching window ({window} s): {needed} s "
                    f"(event source mapping {name})"
                )))
        return matches
