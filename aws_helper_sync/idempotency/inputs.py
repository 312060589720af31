"""What the input of each idempotent hook is: its payload, its raw form, its Lambda context.

| hook | payload (paths and the default hash) | a key callable gets |
|---|---|---|
| ``SQSConsumer.process_record(record)`` | the message content (SNS envelope unwrapped) | the record |
| ``API.process()`` | ``data``; the default hash adds ``path_parameters`` | the API instance |
| ``Lambda.process()`` | ``data`` | the Lambda instance |
| ``FargateTask.execute()`` | ``envs`` but the state and task name (a path reads ``get_env(path)``) | the task |
| ``idempotent_call(fn, payload)`` | ``payload`` (an SQS record: its content) | ``payload`` |

Paths with a ``$`` prefix read the rest of the input: ``$record`` (the SQS
record), ``$event`` (the API or Lambda event), ``$headers`` (the API's request
headers, any letter case).

The message content, not the record, is what an SQS duplicate shares: an SNS
retry or a second publish of the same message arrives with a new ``messageId``
and receipt handle but the same content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..sqs import records as rec
from .errors import IdempotencyConfigError
from .keys import MISSING, resolve_path


@dataclass
class HookInput:
    """One call's input as the idempotency run sees it."""

    payload: Any  # what paths resolve into
    raw: Any  # what a key callable receives
    context: Any = None  # a Lambda context (get_remaining_time_in_millis), if any
    hashed: Any = MISSING  # what the default key hashes, when it is not the payload
    lookup: Callable[[Any, str], Any] = resolve_path
    capture: Callable[[Any], Any] | None = None  # result -> what is stored
    replay: Callable[[Any], Any] | None = None  # stored -> what a repeat returns
    sources: dict[str, Any] = field(default_factory=dict)  # "$record", "$event", "$headers"

    @property
    def whole(self) -> Any:
        return self.payload if self.hashed is MISSING else self.hashed

    def find(self, path: str) -> Any:
        """The value at ``path``: in the payload, or in the part named by a ``$`` prefix."""
        head, _, rest = path.partition(".")
        if head.startswith("$"):
            if head not in self.sources:
                available = ", ".join(sorted(self.sources)) or "none"
                raise IdempotencyConfigError(
                    f"key path {path!r}: {head} is not part of this hook's input (available here: {available})"
                )
            return resolve_path(self.sources[head], rest) if rest else self.sources[head]
        return self.lookup(self.payload, path)


def is_sqs_record(value: Any) -> bool:
    """A record as SQS delivers it (Lambda or boto3 shape): a message id and a body."""
    return isinstance(value, dict) and rec.message_id(value) is not None and (
        "body" in value or "Body" in value
    )


def call_input(payload: Any, context: Any = None) -> HookInput:
    """The input of ``idempotent_call``: an SQS record is keyed by its content."""
    if is_sqs_record(payload):
        return HookInput(payload=rec.extract_content(payload), raw=payload, context=context,
                         sources={"$record": payload})
    return HookInput(payload=payload, raw=payload, context=context)


def hook_input(entry: Any, args: tuple[Any, ...], kwargs: dict[str, Any], hook: str) -> HookInput:
    """The input of ``entry.<hook>(*args, **kwargs)`` for the entry-point classes."""
    from ..api.base import API
    from ..fargate.task_base import FargateTask
    from ..lambda_standalone.base import Lambda
    from ..sqs.consumer_base import SQSConsumer

    context = getattr(entry, "context", None)
    if args or kwargs:
        value = args[0] if args else next(iter(kwargs.values()))
        if isinstance(entry, SQSConsumer):
            if isinstance(value, list):
                raise IdempotencyConfigError(
                    f"@idempotent on {type(entry).__name__}.{hook}: a batch is not one unit of work; "
                    "call idempotent_call(fn, record) for each record inside process_batch instead"
                )
            if not is_sqs_record(value):
                raise IdempotencyConfigError(
                    f"@idempotent on {type(entry).__name__}.{hook}: expected an SQS record, got "
                    f"{type(value).__name__}"
                )
            return HookInput(payload=rec.extract_content(value), raw=value, context=context,
                             sources={"$record": value})
        return HookInput(payload=value, raw=value, context=context)
    if isinstance(entry, API):
        return HookInput(
            payload=entry.data,
            raw=entry,
            context=context,
            hashed={"path_parameters": list(entry.path_parameters), "data": entry.data},
            capture=lambda result: _capture_response(entry, result),
            replay=lambda stored: _replay_response(entry, stored),
            sources={"$event": entry.event or {}, "$headers": entry.headers},
        )
    if isinstance(entry, Lambda):
        return HookInput(payload=entry.data, raw=entry, context=context, sources={"$event": entry.event})
    if isinstance(entry, FargateTask):
        return HookInput(
            payload=_task_envs(entry.envs), raw=entry, context=context,
            lookup=lambda _envs, path: _env_or_missing(entry, path),
        )
    raise IdempotencyConfigError(
        f"@idempotent on {type(entry).__name__}.{hook}() without arguments: only API, Lambda and "
        "FargateTask hooks have an input to key on; use idempotent_call(fn, payload) elsewhere"
    )


# Set for every task by FargateExecutor: they say nothing about which work this is.
_TASK_ENVS = frozenset({"CONSTITUTION_STATE", "TASK_NAME"})


def _task_envs(envs: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in envs.items() if name.upper() not in _TASK_ENVS}


def _env_or_missing(task: Any, path: str) -> Any:
    value = task.get_env(path)
    return MISSING if value is None else value


def _capture_response(api: Any, result: Any) -> dict[str, Any]:
    """What an API repeat needs: the return value and the response set with ``set_*``."""
    return {
        "returned": result,
        "code": api.status_code,
        "body": api.response_body,
        "headers": api.response_headers,
    }


def _replay_response(api: Any, stored: Any) -> Any:
    if not isinstance(stored, dict):
        return stored
    api.set_code(stored.get("code") or 200)
    api.set_body(stored.get("body"))
    api.set_headers(stored.get("headers") or {})
    return stored.get("returned")
