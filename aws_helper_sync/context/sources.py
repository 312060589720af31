"""Where a unit's state can come from, and how several sources must agree.

One unit of work (a request, an invocation, a record, a task) may name its
state in more than one place: the ``constitution-state`` (header, event key,
message attribute, ``CONSTITUTION_STATE``), the ``session`` that the async
framework's releases from 0.33 on propagate instead (SNS/SQS attribute,
``SESSION`` variable, Lambda event key), and Lambda's tenant isolation mode
(``context.tenant_id``). The rule, the same at every entry point:

    first_agreeing([("constitution-state header", "ohio"), ("context.tenant_id", "ohio")])
    # -> ("constitution-state header", "ohio"); a source that differs raises
    # ConflictingStateSourcesError instead of silently picking one of them

Values are compared exactly as found, before any validation (the caller checks
the winner with ``known_state``), so ``"ohio"`` and ``"ohio "`` disagree.

A ``session`` is read for its ``state`` only; its ``user`` (or anything else)
is never looked at: whoever can put a message on a queue could put a user
there too. A session that cannot be read (bad base64, not JSON, not an object,
a ``state`` that is not a string, a key given twice) raises
``MalformedSessionError``, even when a valid ``constitution-state`` is present:
a unit whose sources cannot all be read is ambiguous, and ambiguity fails
closed. The encoders at the end (``session_attribute``, ``session_env``,
``session_event``) write the same shapes, with the state only, for senders;
``session_to_write`` is the one place that decides whether a sender writes one
(``PROPAGATE_SESSION``), and ``check_given_session`` the rule for a session the
caller set itself (kept as given, if it names the same state).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import settings
from .._lazy import deferred
from .state import InvalidStateError, validate_state

if TYPE_CHECKING:
    import base64
else:
    base64 = deferred(__name__, "base64", "base64")  # for a session value (cold start)

SESSION_ATTRIBUTE = "session"
SESSION_ENV = "SESSION"
SESSION_EVENT_KEY = "session"
SESSION_STATE_KEY = "state"
TENANT_ID_SOURCE = "context.tenant_id"

Found = tuple[str, Any]
"""``(source, value)``: where a state was looked for, and what was there (None: nothing)."""


class ConflictingStateSourcesError(InvalidStateError):
    """Two state sources of one unit name different states: the unit is refused, never run under either."""


class MalformedSessionError(InvalidStateError):
    """A ``session`` (the async framework's newer state carrier) that cannot be read."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_agreeing(sources: Iterable[Found]) -> Found | None:
    """The first source that has a value, after checking that every other one agrees.

    ``sources`` is in order of precedence; a value of None means the source is
    absent. Every source is looked at (not only up to the first found), so a
    contradiction further down is never missed. Returns None when no source has
    a value; raises ``ConflictingStateSourcesError`` naming both sources when
    two values differ.
    """
    winner: Found | None = None
    for found in sources:
        value = found[1]
        if value is None:
            continue
        if winner is None:
            winner = found
        elif not _same(winner[1], value):
            raise ConflictingStateSourcesError(
                f"state sources disagree: {winner[0]} is {_shown(winner[1])} but {found[0]} is "
                f"{_shown(value)}; the unit is refused rather than run under either"
            )
    return winner


def _same(left: object, right: object) -> bool:
    return type(left) is type(right) and left == right


def tenant_id(context: Any) -> Any:
    """``context.tenant_id`` (Lambda tenant isolation mode) as found, or None when it is not set.

    The Python runtime sets it from the invocation's tenant id and leaves it None
    for functions without tenant isolation; an empty string counts as not set.
    Any other value is returned as is, so that the caller refuses it (a fake
    context whose ``tenant_id`` is not a string must not pass silently).
    """
    value = getattr(context, "tenant_id", None) if context is not None else None
    return None if value is None or value == "" else value


# --- reading a session ---

def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} is given twice")
        result[key] = value
    return result


def session_state_from_object(session: Any, source: str) -> Any:
    """The ``state`` of a session given as a JSON object (a dict), or None when it carries none.

    A missing or null ``state`` is a session without a state (absent); a state
    that is not a string is malformed. Nothing else of the session is read.
    """
    if not isinstance(session, dict):
        raise MalformedSessionError(
            f"{source} must be a JSON object such as {{\"state\": \"ohio\"}}, got {type(session).__name__}"
        )
    state = session.get(SESSION_STATE_KEY)
    if state is None:
        return None
    if not isinstance(state, str):
        raise MalformedSessionError(f"{source}: its \"state\" must be a string, got {type(state).__name__}")
    return state


def session_state_from_json(text: Any, source: str) -> Any:
    """The ``state`` of a session given as JSON text (the ``SESSION`` variable of a Fargate task)."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise MalformedSessionError(f"{source} must be JSON text, got {type(text).__name__}")
    try:
        session = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except Exception as exc:  # noqa: BLE001 - invalid, too deep, a duplicate key: all unreadable
        raise MalformedSessionError(f"{source} is not valid JSON ({_reason(exc)})") from None
    return session_state_from_object(session, source)


def session_state_from_base64(text: Any, source: str) -> Any:
    """The ``state`` of a session given as base64 of JSON (the SNS/SQS ``session`` attribute)."""
    if not isinstance(text, str):
        raise MalformedSessionError(f"{source} must be a string holding base64, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        decoded = raw.decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError) as exc:
        raise MalformedSessionError(f"{source} is not base64 of UTF-8 JSON ({_reason(exc)})") from None
    return session_state_from_json(decoded, source)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- writing a session (for senders: PROPAGATE_SESSION) ---

def session_to_write(state: Any) -> str | None:
    """The state a sender also writes as a ``session``, or None: the one decision of every sender.

    ``SNSPublisher``, ``SQSPublisher``, ``FargateExecutor`` and ``LambdaInvoker``
    ask this with the constitution-state they send with the unit. With
    ``PROPAGATE_SESSION=true`` (read at each call, a value that is not a
    boolean is a ConfigurationError even without a state) and a state, the
    session carries that very state, validated, so the two sources a consumer
    reads always agree; otherwise None and nothing extra is sent.
    """
    if not settings.propagate_session() or state is None:
        return None
    return validate_state(state)


def check_given_session(session_state: Any, session_source: str, state: Any, state_source: str) -> None:
    """A session the caller set itself is sent as given (never replaced), if it names the same state.

    ``session_state`` is what the caller's session decodes to (None: it names no
    state). A different state would be refused by every consumer of this
    library (sources that disagree fail the unit) while one of the async
    framework, which reads only the session, would take it: so it is refused
    here, before anything is sent, with ``ConflictingStateSourcesError``.
    """
    if session_state is None or state is None or _same(session_state, state):
        return
    raise ConflictingStateSourcesError(
        f"{session_source} names the state {_shown(session_state)} but {state_source} is {_shown(state)}; "
        "consumers would refuse it (or, reading only the session, run it in the other state): send one state"
    )


def session_event(state: str) -> dict[str, str]:
    """The Lambda event's ``session`` value for ``state``: ``{"state": state}`` (validated, state only)."""
    return {SESSION_STATE_KEY: validate_state(state)}


def session_env(state: str) -> str:
    """The ``SESSION`` variable of a Fargate task for ``state``: the JSON ``{"state": ...}``."""
    return json.dumps(session_event(state), separators=(",", ":"))


def session_attribute(state: str) -> str:
    """The SNS/SQS ``session`` attribute value for ``state``: base64 of the JSON ``{"state": ...}``."""
    return base64.b64encode(session_env(state).encode("utf-8")).decode("ascii")


def session_message_attribute(state: str) -> dict[str, str]:
    """``{"DataType": "String", "StringValue": session_attribute(state)}``, ready for boto3
    ``MessageAttributes["session"]`` of an SNS publish or an SQS send."""
    return {"DataType": "String", "StringValue": session_attribute(state)}
