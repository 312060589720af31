"""Response headers that cannot be forged: the one check every header goes through.

A CR or LF in a header ends it and starts another one (``Set-Cookie``, a second
response, a redirect): whoever controls the text controls the response. A NUL
truncates it in some servers. So a response header name must be an HTTP token
(RFC 9110: letters, digits and ``!#$%&'*+-.^_`|~``; no space, no colon), and a
value may not contain CR, LF or NUL.

Such a header is a bug of the server (it put unchecked text into a header), not
a bad request: ``HeaderInjectionError`` is a ``RuntimeError``, never a
``ValueError``, so the API answers the generic 500 (logged) and the header is
never sent.

    self.set_header("X-Filename", name)   # HeaderInjectionError if name holds "\\r\\n"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._bounded import remember

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class HeaderInjectionError(RuntimeError):
    """A response header name or value that would forge the response (CR, LF, NUL, ...).

    ``header`` is the offending name; the message shows it with those characters
    escaped, so the log line cannot be forged either.
    """

    def __init__(self, header: Any, problem: str) -> None:
        super().__init__(f"response header {header!r} refused: {problem}")
        self.header = header


def header_value(name: Any, value: Any) -> str:
    """The text of the response header ``name: value`` (``str(value)``), or HeaderInjectionError.

    ``name`` must be an HTTP token (so no CR, LF, NUL, space or colon) and the
    value must hold no CR, LF or NUL.
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise HeaderInjectionError(
            name, "a header name is letters, digits and !#$%&'*+-.^_`|~ only (no CR, LF, NUL, "
                  "space or colon)")
    text = value if isinstance(value, str) else str(value)
    if not is_safe_header_value(text):
        raise HeaderInjectionError(name, "its value contains CR, LF or NUL")
    return text


def is_safe_header_value(text: str) -> bool:
    """True when ``text`` can be sent as a header value as is (no CR, LF, NUL)."""
    return "\r" not in text and "\n" not in text and "\x00" not in text  # faster than the regex


def check_response_headers(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """``response`` (a proxy response) unchanged, once its ``headers``, ``multiValueHeaders``
    and ``cookies`` all passed :func:`header_value`; else HeaderInjectionError.

    The last check before a response leaves the library (``build_response``, the
    local server), whatever code put the headers there.
    """
    headers = response.get("headers") or {}
    if not _all_plain_text(headers):
        for name, value in headers.items():
            header_value(name, value)
    multi = response.get("multiValueHeaders")
    if multi:
        for name, values in multi.items():
            for value in _values(values):
                header_value(name, value)
    cookies = response.get("cookies")
    if cookies:
        for cookie in _values(cookies):
            header_value("Set-Cookie", cookie)
    return response


def _all_plain_text(headers: Mapping[str, Any]) -> bool:
    """True when every name is an HTTP token and every value a string without CR, LF or NUL.

    The check of a whole header map at once, for the common case: the names and
    the values, each joined into one string (``str.join`` refuses anything but
    strings), take one check each. Tokens joined are a token, and a forbidden
    character in one value is one in the joined text; an empty name would vanish
    in the join, so it is looked for apart. False sends the caller through the
    per-header check, which names the culprit.
    """
    try:
        names, values = "".join(headers), "".join(headers.values())
    except TypeError:  # a list of values, a number, a name that is no string
        return False
    if not is_safe_header_value(values) or "" in headers:
        return False
    if names in _TOKEN_RUNS:  # responses repeat the same few header sets
        return True
    if _TOKEN.fullmatch(names) is None:
        return False
    remember(_TOKEN_RUNS, names, True, _TOKEN_RUNS_MAX)  # bounded, whatever names an application makes up
    return True


_TOKEN_RUNS: dict[str, bool] = {}  # joined header names already matched as one token
_TOKEN_RUNS_MAX = 256


def _values(values: Any) -> Any:
    """A multi-value entry as the values it sends (a lone string is one value)."""
    return (values,) if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") else values
