"""Reading the state header, shared by the Flask extension and the WSGI middleware.

One place decides what a missing, invalid or unknown header means and what the
error body says (400, 403 or 503), so both integrations answer identically:

    state = read_state(environ.get(environ_key(header)), header=header, required=True)
    # raises StateHeaderError -> error.status / error.to_json()
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus

from ..context.state import InvalidStateError, UnknownStateError
from ..entrypoint import MissingStateError, require_state
from ..errors import REGISTRY_UNAVAILABLE, StateRegistryUnavailableError

logger = logging.getLogger("aws_helper_sync.integrations")

DEFAULT_HEADER = "constitution-state"

# A browser's CORS preflight never carries custom headers: requiring the state
# on OPTIONS would break every cross-origin client.
STATELESS_METHODS = frozenset({"OPTIONS"})

# Letters, digits and hyphens only: servers drop or merge header names with
# underscores (HTTP_X_Y is ambiguous), so such a name could never be read.
_HEADER_NAME = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")

JSON_CONTENT_TYPE = "application/json"


class StateHeaderError(ValueError):
    """A request whose state header is refused; answered with a JSON error.

    400 when missing or malformed, 403 when well formed but unknown to the state
    registry (or inactive), 503 when the registry cannot be read (fail closed).
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.status_line = f"{status} {HTTPStatus(status).phrase}"

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode("utf-8")


def check_header_name(header: str) -> str:
    """Return ``header`` when it is a name every server passes through, else raise ValueError."""
    if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
        raise ValueError(
            f"state header name {header!r} must be letters, digits and hyphens "
            "(for example 'constitution-state'); servers drop names with underscores"
        )
    return header


def environ_key(header: str) -> str:
    """The WSGI environ key of a request header: ``constitution-state`` -> ``HTTP_CONSTITUTION_STATE``."""
    return "HTTP_" + check_header_name(header).upper().replace("-", "_")


def read_state(value: str | None, *, header: str, required: bool) -> str | None:
    """The validated state from a header value; None when absent and not required.

    An empty value counts as absent. A present value is always validated, also
    where it is optional, so no request can put a bad state in context.
    """
    if not required and (value is None or value == ""):
        return None
    # The same reading (and wording) as api_handler's header, Lambda events and tasks.
    try:
        return require_state(value, f"{header} header")
    except MissingStateError as exc:
        raise StateHeaderError("missing_constitution_state", str(exc)) from None
    except UnknownStateError as exc:
        raise StateHeaderError("unknown_constitution_state", str(exc), status=403) from None
    except InvalidStateError as exc:
        raise StateHeaderError("invalid_constitution_state", str(exc)) from None
    except StateRegistryUnavailableError:
        logger.exception("%s header: the state registry could not be read; request refused", header)
        raise StateHeaderError(
            "state_registry_unavailable", REGISTRY_UNAVAILABLE, status=503
        ) from None
