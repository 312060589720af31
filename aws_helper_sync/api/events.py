"""API Gateway, Function URL and ALB events in, the matching responses out.

``parse_event`` reads REST API (payload 1.0), HTTP API and Lambda Function URL
(payload 2.0) and Application Load Balancer events into one ``ApiRequest``;
anything malformed is a ``BadRequestError`` (400), never a crash. Paths (and
ALB query strings, which arrive still encoded) are percent-decoded per segment,
so every kind gives the same ids. ``build_response`` is the one place that
produces the response dict, and ``shape_response`` fits it to the event kind
(v2 ``cookies``, v1/ALB ``multiValueHeaders``, ALB ``statusDescription``, HEAD).

    request = parse_event(event)
    request.headers["Constitution-State"]   # header names are case-insensitive
"""

from __future__ import annotations

import binascii
import codecs
import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from .._bounded import remember
from .._lazy import deferred, deferred_logger
from ..utils.json_encoder import MongoJSONEncoder
from .exceptions import BadRequestError, UnsupportedMediaTypeError
from .headers import check_response_headers

# Imported on first use (cold start; see _lazy.deferred): base64 bodies, form
# and query decoding, ALB reason phrases, log lines.
if TYPE_CHECKING:
    import base64
    from urllib.parse import parse_qsl, unquote, unquote_plus

    from ._status import PHRASES as _STATUS_PHRASES
else:
    base64 = deferred(__name__, "base64", "base64")
    parse_qsl = deferred(__name__, "parse_qsl", "urllib.parse", "parse_qsl")
    unquote = deferred(__name__, "unquote", "urllib.parse", "unquote")
    unquote_plus = deferred(__name__, "unquote_plus", "urllib.parse", "unquote_plus")
    _STATUS_PHRASES = deferred(__name__, "_STATUS_PHRASES", "aws_helper_sync.api._status", "PHRASES")
logger = deferred_logger(__name__, "logger", "aws_helper_sync.api")

STATE_HEADER = "constitution-state"
JSON_CONTENT_TYPE = "application/json"
CORS_ALLOW_HEADERS = "Content-Type, Authorization, Constitution-State, X-Request-Id"
CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# What an API may declare as ``body_format``, and the Content-Types each takes by
# default (None: any). A ``bytes`` API refuses the two structured formats the
# library parses itself: such a sender meant a json or form endpoint.
BODY_FORMATS = ("json", "form", "text", "bytes")
DEFAULT_CONTENT_TYPES: dict[str, tuple[str, ...] | None] = {
    "json": None, "form": (FORM_CONTENT_TYPE,), "text": ("text/*",), "bytes": None,
}
_REFUSED_BY_BYTES = (JSON_CONTENT_TYPE, "*/*+json", FORM_CONTENT_TYPE)
# Methods whose body is never parsed into ``data`` (GET/HEAD data is the query).
BODY_IGNORED_METHODS = frozenset({"GET", "HEAD", "DELETE"})
MAX_FORM_FIELDS = 10_000

# Event kinds; the 2.0 ones share the request and response format.
REST, HTTP_API, FUNCTION_URL, ALB = "rest", "http", "function_url", "alb"
V2_KINDS = frozenset({HTTP_API, FUNCTION_URL})
_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# One encoder for all responses: encode() keeps no state between calls, so it is
# thread-safe, and reusing it saves building an encoder per response.
_ENCODER = MongoJSONEncoder()

_T = TypeVar("_T")


class Headers(Mapping[str, str]):
    """Read-only request headers with case-insensitive names (iterates lower-case names).

    When two names differ in letter case only, the later one's value is the one seen.
    """

    __slots__ = ("_given", "_names")

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._given: Mapping[str, str] = dict(items or {})
        # lower-case name -> the name as given (a later spelling wins)
        self._names: Mapping[str, str] = {name.lower(): name for name in self._given}

    def _name(self, name: str) -> str | None:
        found = self._names.get(name)  # the library asks in lower case: no lower() to make
        if found is None and isinstance(name, str):
            found = self._names.get(name.lower())
        return found

    def __getitem__(self, name: str) -> str:
        found = self._name(name)
        if found is None:
            raise KeyError(name)
        return self._given[found]

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str | _T) -> str | _T: ...

    def get(self, name: str, default: object = None) -> object:
        if not isinstance(name, str):
            return default
        found = self._names.get(name)  # (_name(), written out: the library reads headers per request)
        if found is None:
            found = self._names.get(name.lower())
        return default if found is None else self._given[found]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._name(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in ("authorization", "cookie") else self._given[n])
                 for k, n in self._names.items()}
        return f"Headers({shown})"


class RequestBody(NamedTuple):
    """A request body read for one ``body_format``: ``data`` for the API, the bytes, the text."""

    data: dict[str, Any]
    raw: bytes
    text: str | None = None


_NO_BODY = RequestBody({}, b"")  # shared: nothing may write to its data (API copies what it is given)


class ApiRequest:
    """One HTTP request, whatever the event format.

    ``query_parameters`` has the last value of each key on every event kind;
    ``multi_query_parameters`` has all of them, in order. Behind HTTP API and
    Function URLs, API Gateway joins repeated keys with commas: the values are
    taken from ``rawQueryString`` when it agrees, else by splitting on commas,
    and then a literal comma inside one value cannot be told apart from two values.

    A plain class with slots, not a frozen dataclass: it is built once per
    request, and a frozen dataclass sets each of its fields through
    ``object.__setattr__``.
    """

    __slots__ = (
        "_state_header",
        "_state_values_agree",
        "body",
        "event",
        "headers",
        "is_base64_encoded",
        "kind",
        "method",
        "multi_query_parameters",
        "path",
        "query_parameters",
        "request_id",
        "segments",
        "version",
    )

    def __init__(
        self,
        method: str,
        path: str,
        segments: tuple[str, ...],
        headers: Headers,
        query_parameters: dict[str, str],
        body: str | None = None,
        is_base64_encoded: bool = False,
        version: str = "1.0",
        request_id: str | None = None,
        event: Mapping[str, Any] | None = None,
        kind: str = REST,
        multi_query_parameters: dict[str, list[str]] | None = None,
        state_values_agree: bool | None = None,
        state_header: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.segments = segments
        self.headers = headers
        self.query_parameters = query_parameters
        self.body = body
        self.is_base64_encoded = is_base64_encoded
        self.version = version
        self.request_id = request_id
        self.event: Mapping[str, Any] = {} if event is None else event
        self.kind = kind
        self.multi_query_parameters: dict[str, list[str]] = (
            {} if multi_query_parameters is None else multi_query_parameters
        )
        # True when parse_event saw every spelling of the state header agree; None: not looked at
        self._state_values_agree = state_values_agree
        self._state_header = state_header  # read by parse_event with the spellings (when it agreed)

    def __repr__(self) -> str:
        return f"ApiRequest(method={self.method!r}, path={self.path!r}, kind={self.kind!r})"

    def state_header(self) -> str | None:
        """The ``constitution-state`` header; BadRequestError when the request carries it
        more than once (letter case, v1 ``multiValueHeaders``) with different values."""
        agree = self._state_values_agree
        if agree:
            return self._state_header
        if agree is None and _state_values_agree(self.event):
            return self.headers.get(STATE_HEADER)
        raise BadRequestError(
            f"{STATE_HEADER} header: the request carries it several times with different values"
        )

    def raw_body(self) -> bytes:
        """The body as bytes (base64 decoded); ``b""`` when there is none."""
        text = self.body
        if not text:
            return b""
        if self.is_base64_encoded:
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequestError("request body is not valid base64") from None
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestError("request body is not valid UTF-8 text") from None

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object; empty -> ``{}``; anything else -> BadRequestError."""
        return _json_object(self._text(self.raw_body() if self.is_base64_encoded else None))

    def _text(self, raw: bytes | None, charset: str = "utf-8") -> str:
        if raw is None:  # a text body as the event gave it: no round trip through bytes
            return self.body or ""
        try:
            return raw.decode(charset)
        except UnicodeDecodeError:
            raise BadRequestError(f"request body is not valid {charset} text") from None
        except LookupError:  # a codec that is no text encoding: rot13, zlib, base64...
            raise UnsupportedMediaTypeError(f"charset {charset[:40]!r} is not a text encoding") from None

    def body_for(self, api_class: Any) -> RequestBody:
        """``read_body`` as ``api_class`` declares it (``body_format``, ``content_types``), whose
        attributes are read only when there is a body to read."""
        if not self.body and self.method in BODY_IGNORED_METHODS:
            return _NO_BODY
        return self.read_body(api_class.body_format, api_class.content_types)

    def read_body(self, body_format: str = "json",
                  content_types: tuple[str, ...] | None = None) -> RequestBody:
        """The body read as an API's ``body_format`` declares (``json``, ``form``, ``text``,
        ``bytes``): 400 when it cannot be read so, 415 when its Content-Type disagrees.

        GET, HEAD and DELETE bodies are never parsed (``data`` is ``{}``), only
        given as bytes. ``content_types`` replaces the format's default list
        (entries like ``text/csv``, ``image/*``, ``*/*``).
        """
        if self.method in BODY_IGNORED_METHODS:
            if not self.body:
                return _NO_BODY
            try:
                raw = self.raw_body()
            except BadRequestError:  # never read, so never a reason to refuse the request
                raw = b""
            return RequestBody({}, raw)
        raw = self.raw_body()
        if not raw:
            return RequestBody({}, raw, "" if body_format == "text" else None)
        media, charset = _media_type(self.headers.get("content-type"))
        allowed = content_types if content_types is not None else DEFAULT_CONTENT_TYPES[body_format]
        refused = allowed is not None and not _media_in(media, allowed)
        if body_format == "bytes" and content_types is None and _media_in(media, _REFUSED_BY_BYTES):
            refused = True
        if refused:
            raise UnsupportedMediaTypeError(
                f"Content-Type {media or '(none)'} is not accepted here"
                + (f" (send {', '.join(allowed)})" if allowed else "")
            )
        if body_format == "bytes":
            return RequestBody({}, raw)
        if charset != "utf-8":
            try:
                charset = codecs.lookup(charset).name
            except LookupError:
                raise UnsupportedMediaTypeError(f"unknown charset {charset[:40]!r}") from None
        if body_format == "json":  # a UTF-8 text body is parsed as the event gave it
            text = self._text(raw, charset) if self.is_base64_encoded or charset != "utf-8" else self.body or ""
            return RequestBody(_json_object(text), raw)
        text = self._text(raw, charset)
        if body_format == "text":
            return RequestBody({}, raw, text)
        return RequestBody(_form_fields(text, charset), raw)


def _media_type(content_type: Any) -> tuple[str, str]:
    """``("application/json", "utf-8")`` from a Content-Type value; ``("", "utf-8")`` without one."""
    if not isinstance(content_type, str):
        return "", "utf-8"
    if ";" not in content_type:  # the usual "application/json": no parameters to read
        return content_type.strip().lower(), "utf-8"
    media, _, params = content_type.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _media_in(media: str, accepted: tuple[str, ...]) -> bool:
    """Does ``media`` match one of ``accepted`` (``type/sub``, ``type/*``, ``*/*``, ``*/*+json``)?"""
    kind, _, sub = media.partition("/")
    for entry in accepted:
        entry = entry.strip().lower()
        if entry == "*/*" or entry == media:
            return True
        if entry.endswith("/*") and media and entry[:-2] == kind:
            return True
        if entry.startswith("*/*+") and sub.endswith(entry[3:]):
            return True
    return False


def _json_object(text: str) -> dict[str, Any]:
    """A JSON object from ``text`` (``{}`` when blank); non-finite numbers, NUL in keys and
    unpaired surrogates are refused: none can be stored in MongoDB or sent as JSON."""
    if not text or text.isspace():
        return {}
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        decoder = _CHECKED_DECODER if "\\u0000" in text else _DECODER
        end = -1
        if text[0] == "{" and text[-1] == "}":  # what decode() does, minus its two regex matches for blanks
            try:
                parsed, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
            except StopIteration:
                pass
        if end != len(text):  # blanks around it, extra data, not an object: decode() says what
            parsed = decoder.decode(text)
    except BadRequestError:
        raise
    except RecursionError:
        raise BadRequestError("request body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequestError(
            f"request body must be a JSON object, got a JSON {_json_kind(parsed)}"
        )
    if "\\u" in text and _LONE_SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestError("request body has an unpaired surrogate (\\ud800-\\udfff)") from None
    return parsed


def _form_fields(text: str, charset: str) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` fields (the last value of a repeated name)."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict",
                          max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:  # bad percent-encoded bytes, too many fields
        raise BadRequestError(f"request body is not a valid form: {exc}") from None
    fields = dict(pairs)
    if any("\x00" in name for name in fields):
        raise BadRequestError("request body has a field name with a NUL character")
    return fields


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: valid JSON grammar, but no finite number
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _checked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for name, _ in pairs:
        if "\x00" in name:
            raise BadRequestError("request body has a key with a NUL character")
    return dict(pairs)


# Built once: json.loads with hooks builds a decoder per call. A decoder keeps no state
# between calls (json's own shared decoder serves every thread the same way).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_CHECKED_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float,
                                    object_pairs_hook=_checked_object)  # a \u0000 in the text: keys checked


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _mapping(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    if value is None:
        return {}
    if type(value) is dict:  # what json.loads gives: skip the slower ABC check
        return value
    if not isinstance(value, Mapping):
        raise BadRequestError(f"malformed event: '{key}' must be an object")
    return value


def _list_map(event: Mapping[str, Any], key: str) -> dict[str, list[str]]:
    """A str->list[str] map (a 1.0/ALB multi-value map); each list has at least one value."""
    result: dict[str, list[str]] = {}
    for name, values in _mapping(event, key).items():
        if not isinstance(name, str) or not isinstance(values, list) or not values:
            raise BadRequestError(f"malformed event: '{key}' must map names to lists")
        if not all(isinstance(v, str) for v in values):
            raise BadRequestError(f"malformed event: '{key}' values must be strings")
        result[name] = values
    return result


def _string_map(event: Mapping[str, Any], key: str, multi_key: str | None = None) -> dict[str, str]:
    """A str->str map from ``key``, else from its 1.0 multi-value twin (last value wins).

    API Gateway fills both maps; the multi-value one alone comes from ALB target
    groups with multi-value headers on, hand-made events and test tools.
    """
    result: dict[str, str] = {}
    if multi_key is not None and not event.get(key):
        for name, values in _list_map(event, multi_key).items():
            result[name] = values[-1]
    for name, value in _mapping(event, key).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise BadRequestError(f"malformed event: '{key}' must map names to strings")
        result[name] = value
    return result


def _v1_query(event: Mapping[str, Any], encoded: bool) -> dict[str, list[str]]:
    """Every query value of a 1.0 or ALB event that has a query (``parse_event`` answers ``{}``
    for API Gateway's nulls); ALB sends them still percent-encoded."""
    multi = _list_map(event, "multiValueQueryStringParameters")
    for name, value in _string_map(event, "queryStringParameters").items():
        multi.setdefault(name, [value])
    if not encoded:
        return multi
    decoded: dict[str, list[str]] = {}
    for name, values in multi.items():  # as API Gateway decodes them: '+' is a space
        decoded.setdefault(unquote_plus(name), []).extend(unquote_plus(v) for v in values)
    return decoded


def _v2_query(event: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every query value of a 2.0 event, whose map joins repeated keys with commas (``parse_event``
    answers ``{}`` when the map is missing: HTTP API leaves it out without a query)."""
    joined = _string_map(event, "queryStringParameters")
    if not joined:
        return {}
    raw = event.get("rawQueryString")
    exact: dict[str, list[str]] = {}
    if isinstance(raw, str) and raw:
        for name, value in parse_qsl(raw, keep_blank_values=True):
            exact.setdefault(name, []).append(value)
    multi: dict[str, list[str]] = {}
    for name, value in joined.items():
        values = exact.get(name)
        # rawQueryString tells "a,b" (one value) from a=a&a=b when it agrees with the map
        multi[name] = values if values is not None and ",".join(values) == value else value.split(",")
    return multi


def event_kind(event: Any) -> str:
    """``rest``, ``http``, ``function_url`` or ``alb``; never raises (also for junk events)."""
    if not isinstance(event, Mapping):
        return REST
    context = event.get("requestContext")
    if type(context) is not dict and not isinstance(context, Mapping):
        return HTTP_API if event.get("version") == "2.0" else REST
    return _kind(event, context, context.get("http"))


def _kind(event: Mapping[str, Any], context: Mapping[str, Any], http: Any) -> str:
    """``event_kind`` once the event's requestContext (a mapping) and its ``http`` are read."""
    elb = context.get("elb")
    if elb is not None and isinstance(elb, Mapping):
        return ALB
    if http is not None or event.get("version") == "2.0":
        domain = context.get("domainName")
        if isinstance(domain, str) and ".lambda-url." in domain:
            return FUNCTION_URL
        return HTTP_API
    return REST


class _NameSet(NamedTuple):
    """What one set of header names (in the event's order) tells, worked out once per set."""

    given_names: dict[str, str]  # lower-case name -> the name as given (a later spelling wins); read only
    state_spellings: tuple[str, ...]  # the names that are the state header in some letter case
    state_name: str | None  # the spelling whose value is the state (the last one), None: no state header


_NAME_SETS: dict[tuple[str, ...], _NameSet] = {}
_NAME_SETS_MAX = 512  # bounded whatever names callers send; clients repeat a few sets


def _name_set(names: tuple[Any, ...], where: str) -> _NameSet:
    """The ``_NameSet`` of ``names`` (cached); BadRequestError when a name is not a string.

    Requests from one client carry the same header names request after request,
    so lower-casing them is done once per set, not once per request: a request's
    headers are its event's map and the index of its name set.
    """
    known = _NAME_SETS.get(names)
    if known is not None:
        return known
    if not all(isinstance(name, str) for name in names):
        raise BadRequestError(f"malformed event: '{where}' must map names to strings")
    index = {name.lower(): name for name in names}
    spellings = tuple(n for n in names if n.lower() == STATE_HEADER)
    return remember(_NAME_SETS, names, _NameSet(index, spellings, index.get(STATE_HEADER)), _NAME_SETS_MAX)


def _request_headers(event: Mapping[str, Any], is_v2: bool) -> tuple[Headers, bool, str | None]:
    """The request headers, whether every spelling of the state header agrees
    (``ApiRequest.state_header``), and its value.

    The common case is a ``headers`` object of strings (every API Gateway and ALB
    event), used as it is; any other shape takes ``_string_map``, whose errors name
    the problem. HTTP API and Function URL cookies become a ``cookie`` header.
    """
    given = event.get("headers")
    if type(given) is dict and given:
        try:
            "".join(given.values())  # TypeError unless every value is a string: the cheapest check
        except TypeError:
            raise BadRequestError("malformed event: 'headers' must map names to strings") from None
    else:
        given = _string_map(event, "headers", None if is_v2 else "multiValueHeaders")
    if is_v2:
        cookies = event.get("cookies")
        if cookies is not None:
            if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
                raise BadRequestError("malformed event: 'cookies' must be a list of strings")
            if "cookie" not in given:  # an exact 'cookie' header wins
                given = {**given, "cookie": "; ".join(cookies)}
    names_in_order = tuple(given)
    names = _NAME_SETS.get(names_in_order) or _name_set(names_in_order, "headers")
    # the event's own map (never copied, never changed) and the shared, read-only name index of
    # its name set: no copy and no lower-casing per request
    headers = Headers.__new__(Headers)
    headers._given, headers._names = given, names.given_names
    state = None if names.state_name is None else given[names.state_name]
    if len(names.state_spellings) < 2 and "multiValueHeaders" not in event:  # (HTTP API: one map)
        return headers, True, state
    return headers, _state_spellings_agree(event, given, names_in_order, names, state), state


def _state_spellings_agree(event: Mapping[str, Any], given: Mapping[str, str],
                           names_in_order: tuple[str, ...], names: _NameSet, state: str | None) -> bool:
    """Does the state header have one value however it is spelled, in both header maps?

    The spellings are known from the name sets, so only their own values are
    looked at (API Gateway's REST events repeat every header, in the same order,
    in ``multiValueHeaders``). Anything unusual (a state spelled twice with other
    values, a multi-value map that is no dict) takes the full scan.
    """
    spellings = names.state_spellings
    if len(spellings) > 1:
        for name in spellings:
            if given[name] != state:
                return _state_values_agree(event)
    multi = event.get("multiValueHeaders")
    if multi is None:
        return True
    if type(multi) is not dict:
        return _state_values_agree(event)
    multi_names = tuple(multi)
    if multi_names != names_in_order:
        try:
            spellings = _name_set(multi_names, "multiValueHeaders").state_spellings
        except BadRequestError:  # junk the full scan skips, as it always did
            return _state_values_agree(event)
    for name in spellings:
        if multi[name] != [state]:
            return _state_values_agree(event)
    return True


def _state_values_agree(event: Mapping[str, Any]) -> bool:
    """Every value of every spelling of the state header, in ``headers`` and
    ``multiValueHeaders``, is the same (the full scan; junk entries are skipped)."""
    values: set[str] = set()
    for key in ("headers", "multiValueHeaders"):
        given = event.get(key) if isinstance(event, Mapping) else None
        if not isinstance(given, Mapping):
            continue
        for name, value in given.items():
            if isinstance(name, str) and name.lower() == STATE_HEADER:
                values.update(v for v in (value if isinstance(value, list) else [value])
                              if isinstance(v, str))
    return len(values) <= 1


def parse_event(event: Any) -> ApiRequest:
    """An ``ApiRequest`` from a REST or HTTP API, Function URL or ALB event."""
    if type(event) is not dict and not isinstance(event, Mapping):
        raise BadRequestError("malformed event: expected an API Gateway proxy event object")
    context = event.get("requestContext")
    if type(context) is not dict:
        context = _mapping(event, "requestContext")
    http = context.get("http")
    if http is not None and type(http) is not dict and not isinstance(http, Mapping):
        raise BadRequestError("malformed event: 'requestContext.http' must be an object")
    kind = _kind(event, context, http)
    is_v2 = kind in V2_KINDS
    if is_v2:
        http = http or {}
        method = http.get("method")
        path = event.get("rawPath")
        if path is None and "rawPath" not in event:
            path = http.get("path")
    else:
        method = event.get("httpMethod")
        path = event.get("path")
    # (type() first: isinstance() is a call, and events hold plain str; a canonical method has
    # nothing to strip or upper-case)
    if (type(method) is not str or method not in _CANONICAL_METHODS) and (
            not isinstance(method, str) or not (method := method.strip().upper())):
        raise BadRequestError("malformed event: no HTTP method")
    if type(path) is not str and not isinstance(path, str):
        raise BadRequestError("malformed event: no request path")
    if is_v2:
        stage = context.get("stage")
        if stage != "$default" and stage is not None:  # (the default stage is not in rawPath)
            path = _strip_stage(path, stage)
    headers, state_agrees, state = _request_headers(event, is_v2)
    if event.get("queryStringParameters") is None and (is_v2 or event.get("multiValueQueryStringParameters") is None):
        multi_query = {}  # API Gateway's null (v1) or no key (v2) for a request without a query string
    else:
        multi_query = _v2_query(event) if is_v2 else _v1_query(event, kind == ALB)
    body = event.get("body")
    if body is not None and type(body) is not str and not isinstance(body, str):
        raise BadRequestError("malformed event: 'body' must be a string")
    encoded = event.get("isBase64Encoded", False)
    if encoded is None:
        encoded = False
    elif encoded is not False and encoded is not True:  # (bool has no subclasses)
        raise BadRequestError("malformed event: 'isBase64Encoded' must be a boolean")
    # REST, ALB and Function URLs send the path percent-encoded (HTTP API decoded):
    # decode each segment, so an encoded '/' (%2F) stays inside its segment
    parts = path.strip("/").split("/")
    if "" in parts:  # '//' or the root path
        parts = [part for part in parts if part]
    segments = tuple(unquote(part) for part in parts) if "%" in path else tuple(parts)
    request_id = context.get("requestId")
    request = _new_request(ApiRequest)  # ApiRequest(...), without type.__call__ (which costs more)
    _init_request(
        request,
        method,
        path,
        segments,
        headers,
        {name: values[-1] for name, values in multi_query.items()} if multi_query else {},
        body,
        encoded,
        "2.0" if is_v2 else "1.0",
        request_id if type(request_id) is str and request_id else None,
        event,
        kind,
        multi_query,
        state_agrees,
        state,
    )
    return request


_new_request, _init_request = ApiRequest.__new__, ApiRequest.__init__
# methods as API Gateway and ALB send them: taken as they are
_CANONICAL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _strip_stage(path: str, stage: Any) -> str:
    """HTTP API puts a named stage in rawPath (``/dev/users``); routes never include it."""
    if isinstance(stage, str) and stage and stage != "$default":
        prefix = f"/{stage}"
        if path == prefix:
            return "/"
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return path


@functools.lru_cache(maxsize=32)
def _allowed_origins(allow_origin: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in allow_origin.split(",") if o.strip()) or ("*",)


@functools.lru_cache(maxsize=32)
def _fixed_cors_headers(allow_origin: str) -> dict[str, str] | None:
    """The CORS headers when they do not depend on the caller (one allowed origin), else None."""
    origins = _allowed_origins(allow_origin)
    if len(origins) != 1:
        return None
    return {
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
        "Access-Control-Allow-Origin": origins[0],
    }


@functools.lru_cache(maxsize=32)
def fixed_base_headers(allow_origin: str) -> dict[str, str] | None:
    """``Content-Type`` and the CORS headers of every response when they do not depend on the
    caller: the start of a request's base headers (copied, never changed)."""
    fixed = _fixed_cors_headers(allow_origin)
    return None if fixed is None else {"Content-Type": JSON_CONTENT_TYPE, **fixed}


def response_base_headers(allow_origin: str, request_id: str, headers: Headers | None) -> dict[str, str]:
    """The headers every response to a request carries: ``Content-Type``, CORS (the caller's
    ``Origin`` is looked up only when ``CORS_ALLOW_ORIGIN`` lists several), ``X-Request-Id``."""
    fixed = fixed_base_headers(allow_origin)
    if fixed is None:
        origin = headers.get("origin") if headers is not None else None
        fixed = {"Content-Type": JSON_CONTENT_TYPE, **cors_headers(allow_origin, origin)}
    base = fixed.copy()
    base["X-Request-Id"] = request_id
    return base


def cors_headers(allow_origin: str, request_origin: str | None) -> dict[str, str]:
    """CORS headers for ``CORS_ALLOW_ORIGIN``: ``*``, one origin, or a comma separated list."""
    fixed = _fixed_cors_headers(allow_origin)
    if fixed is not None:
        return dict(fixed)  # a copy: the cached one is shared by every request
    headers = {
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
    }
    # a response may name one origin only: echo the caller's when it is listed
    if request_origin in _allowed_origins(allow_origin):
        headers["Access-Control-Allow-Origin"] = request_origin
    headers["Vary"] = "Origin"
    return headers


def _is_json(content_type: str | list[str]) -> bool:
    if isinstance(content_type, list):  # (the 500 of an unserializable response, as before)
        raise TypeError(f"Content-Type must be one value, got {content_type!r}")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_CONTENT_TYPE or media.endswith("+json")


def build_response(
    status_code: int,
    body: Any,
    base_headers: Mapping[str, str],
    headers: Mapping[str, str | list[str]] | None = None,
) -> dict[str, Any]:
    """The API Gateway proxy response (valid for REST and HTTP APIs).

    ``headers`` (the API's own) override ``base_headers`` whatever their letter
    case. The body is JSON through the Mongo-aware encoder, unless the API set a
    non-JSON Content-Type and gave text (sent as is) or bytes (sent base64).

    ``headers`` pass ``check_response_headers`` here, whoever set them (``set_header``
    checked them already, code writing ``_headers`` did not); ``base_headers`` are
    the library's own, made of checked values (the request id, the CORS settings).
    Without ``headers`` the response holds the ``base_headers`` dict itself: pass
    one built for this response (``response_base_headers`` does).
    """
    merged: dict[str, str | list[str]]
    if "Content-Type" not in base_headers:
        merged = {"Content-Type": JSON_CONTENT_TYPE, **base_headers}
    elif headers or type(base_headers) is not dict:
        merged = dict(base_headers)
    else:  # a response with the library's headers only holds the caller's dict, never changed here
        merged = base_headers
    if headers:
        check_response_headers({"headers": headers})  # a forged header is never sent
        for name, value in headers.items():
            lowered = name.lower()
            for existing in [k for k in merged if k.lower() == lowered]:
                del merged[existing]
            merged[name] = value
    content_type = merged.get("Content-Type")
    if content_type is None:  # the API's own spelling replaced ours
        content_type = next((v for k, v in merged.items() if k.lower() == "content-type"), "")
    encoded = False
    if status_code in (204, 304) and body is None:
        text = ""
    elif content_type == JSON_CONTENT_TYPE or _is_json(content_type):
        text = _ENCODER.encode(body)
    elif isinstance(body, str):
        text = body
    elif isinstance(body, (bytes, bytearray)):
        text, encoded = base64.b64encode(bytes(body)).decode("ascii"), True
    else:
        text = _ENCODER.encode(body)
    return {"statusCode": status_code, "headers": merged, "body": text, "isBase64Encoded": encoded}


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def shape_response(response: dict[str, Any], event: Any, kind: str | None = None,
                   method: str | None = None, single_values: bool = False) -> dict[str, Any]:
    """``response`` (from ``build_response``, header values a string or a list) fitted to
    the kind of ``event``; never raises. ``kind`` and ``method`` are the parsed
    request's, when it was parsed (else they are read from the event);
    ``single_values`` says the caller knows every header value is one string and
    none is a ``Set-Cookie`` (only the library's own headers were set).

    HTTP API / Function URL: every ``Set-Cookie`` goes to ``cookies``, other lists are
    joined with ", ". REST: a header with several values goes to
    ``multiValueHeaders``. ALB: ``statusDescription``, and ``multiValueHeaders``
    only when the request had them (the target group has multi-value headers on),
    else ``headers``, where a name has one value: of several cookies only the last
    is sent, with a warning. HEAD: no body.
    """
    if kind is None:
        kind = event_kind(event)
    if method is None:
        method = _method_of(event, kind)
    is_head = method == "HEAD"
    if single_values and not is_head and kind != ALB:
        return response  # REST, HTTP API, Function URL: nothing to move
    headers = response.get("headers") or {}
    has_lists = not all(map(str.__instancecheck__, headers.values()))
    if not has_lists and not is_head and (
        kind == REST
        # a v2 response moves only Set-Cookie (a name never holds "\n", so the join finds it)
        or (kind in V2_KINDS and "set-cookie" not in "\n".join(headers).lower())
    ):
        return response  # the common cases: nothing to change
    shaped = dict(response)
    if is_head:
        shaped["body"], shaped["isBase64Encoded"] = "", False
    if kind in V2_KINDS:
        single: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in headers.items():
            if name.lower() == "set-cookie":
                cookies.extend(_values(value))
            else:
                single[name] = ", ".join(_values(value))
        shaped["headers"] = single
        if cookies:
            shaped["cookies"] = cookies
    elif kind == ALB:
        code = response.get("statusCode")
        phrase = _STATUS_PHRASES.get(code, "") if isinstance(code, int) else ""
        shaped["statusDescription"] = f"{code} {phrase}".strip()
        if isinstance(event.get("multiValueHeaders"), Mapping):
            shaped.pop("headers", None)
            shaped["multiValueHeaders"] = {name: _values(value) for name, value in headers.items()}
        else:
            shaped["headers"] = {name: _single_value(name, value) for name, value in headers.items()}
    elif has_lists:
        shaped["headers"] = {n: str(v) for n, v in headers.items() if not isinstance(v, (list, tuple))}
        shaped["multiValueHeaders"] = {n: _values(v) for n, v in headers.items()
                                       if isinstance(v, (list, tuple))}
    return shaped


def _single_value(name: str, value: Any) -> str:
    values = _values(value)
    if name.lower() != "set-cookie":
        return ", ".join(values)
    if len(values) > 1:  # a Set-Cookie value cannot be comma-joined (Expires has a comma)
        logger.warning("%d Set-Cookie values but the ALB target group has multi-value headers off "
                       "(lambda.multi_value_headers.enabled): only the last is sent", len(values))
    return values[-1] if values else ""


def _method_of(event: Any, kind: str) -> str | None:
    if not isinstance(event, Mapping):
        return None
    if kind in V2_KINDS:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        method = http.get("method") if isinstance(http, Mapping) else None
    else:
        method = event.get("httpMethod")
    return method.strip().upper() if isinstance(method, str) else None
