"""Every environment variable the library reads, in one place.

Values are read at call time, not import time, so a process (or a test) that
changes its environment sees the change, and importing the package stays free.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Callable, Protocol, TypeVar, overload

from .errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Env(Protocol):
    def __call__(self, name: str, default: str | None = None) -> str | None: ...


def _posix_environ_data() -> dict[bytes, bytes] | None:
    """``os.environ``'s own bytes -> bytes map on POSIX CPython (``_data``, updated by every
    ``os.environ[...] = ...``), else None: where the readers below may read it directly."""
    data = getattr(os.environ, "_data", None)
    return data if os.name == "posix" and isinstance(data, dict) else None


_ENVIRON_DATA = _posix_environ_data()


def _environ_reader() -> _Env:
    """``env()``: one variable, stripped, ``default`` when unset or blank.

    Request paths read a few variables per request, and on POSIX CPython
    ``os.environ.get`` (an encode and a decode per call) costs more than the rest
    of a settings lookup. ``os.environ`` keeps its values in ``_data`` (bytes ->
    bytes, updated by every ``os.environ[...] = ...``), so reading that dict gives
    the same answers; the decoded text is kept per name beside the bytes object
    it came from, and used again while ``_data`` still holds that very object
    (we keep a reference to it, so its id cannot be reused).
    Anywhere else the public API is used.
    """
    data = _ENVIRON_DATA
    if data is None:
        def env_public(name: str, default: str | None = None) -> str | None:
            value = os.environ.get(name)
            value = None if value is None else value.strip() or None
            return default if value is None else value

        return env_public
    # name -> (encoded name, the bytes last read, their text); one entry per name read
    seen: dict[str, tuple[bytes, bytes | None, str | None]] = {}

    read = data.get

    def env(name: str, default: str | None = None) -> str | None:
        """The variable's value with surrounding blanks removed; empty counts as unset."""
        entry = seen.get(name)
        if entry is not None and read(entry[0]) is entry[1]:
            value = entry[2]
        else:
            key = os.fsencode(name) if entry is None else entry[0]
            raw = read(key)
            value = None if raw is None else os.fsdecode(raw).strip() or None
            seen[name] = (key, raw, value)
        return default if value is None else value

    return env


env = _environ_reader()


raw_environ: Callable[[bytes], object] = (
    (lambda key: object()) if _ENVIRON_DATA is None  # never the same object twice: never "unchanged"
    else _ENVIRON_DATA.get
)
"""``raw_environ(os.fsencode(name))``: the very object ``os.environ`` holds for a variable (None:
unset), the same one until the variable is set again, so identity tells "unchanged" without a
decode (see ``_environ_reader``). Elsewhere than POSIX CPython a new object at every read."""


def environ_memo(compute: Callable[[], T], first: str, second: str, third: str, fourth: str) -> Callable[[], T]:
    """``compute`` (which reads the four variables named), called again only once one of them changed.

    For settings that every request reads and derives a value from: the raw
    bytes of the variables (``os.environ._data``, see ``_environ_reader``) are
    compared with those of the last call, instead of each setting being read and
    checked again. An error of ``compute`` (a ConfigurationError) is never kept:
    it is raised again at the next call. Elsewhere than POSIX CPython,
    ``compute`` itself.
    """
    if _ENVIRON_DATA is None:
        return compute
    read = _ENVIRON_DATA.get
    keys = tuple(map(os.fsencode, (first, second, third, fourth)))
    key0, key1, key2, key3 = keys
    last: list[tuple[tuple[bytes | None, ...], T]] = []  # [(raw values, result)]: replaced whole

    def memo() -> T:
        # the reads written out, and one tuple comparison: half the cost of tuple(map(read, keys))
        raws = (read(key0), read(key1), read(key2), read(key3))
        if last:
            seen = last[0]
            if seen[0] == raws:  # equal bytes: the same settings
                return seen[1]
        result = compute()
        if tuple(map(read, keys)) == raws:  # (not changed while compute() ran)
            last[:] = [(raws, result)]
        return result

    return memo


def env_flag(name: str, default: bool) -> bool:
    """A boolean variable; an unrecognised value is a ConfigurationError, not a silent default."""
    value = env(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean; use true or false")


def env_list(name: str) -> list[str]:
    """A comma separated variable as a list without empty items."""
    value = env(name)
    if value is None:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def app_root() -> Path:
    """Where entry-point files live: APP_ROOT, else LAMBDA_TASK_ROOT, else the cwd."""
    from pathlib import Path

    return Path(app_root_text())


def app_root_text() -> str:
    """``app_root()`` as text, for per-request cache keys (no Path object to build)."""
    return env("APP_ROOT") or env("LAMBDA_TASK_ROOT") or os.getcwd()


@overload
def aws_region(default: str) -> str: ...


@overload
def aws_region(default: None = None) -> str | None: ...


def aws_region(default: str | None = None) -> str | None:
    return env("AWS_REGION") or env("AWS_DEFAULT_REGION") or default


def aws_endpoint_url() -> str | None:
    return env("AWS_ENDPOINT_URL")


def allowed_states() -> str | None:
    """``ALLOWED_STATES`` as text; ``context.state`` validates each entry."""
    return env("ALLOWED_STATES")


STATES_REFRESH_DEFAULT = 60.0
_STATES_COLLECTION = re.compile(r"([A-Za-z0-9_-]{1,63})\.([A-Za-z0-9_-][A-Za-z0-9_.-]{0,119})")


def states_collection() -> tuple[str, str] | None:
    """``STATES_COLLECTION=<db>.<collection>`` (e.g. ``core.states``) as (db, collection), or None."""
    value = env("STATES_COLLECTION")
    if value is None:
        return None
    match = _STATES_COLLECTION.fullmatch(value)
    if match is None:
        raise ConfigurationError(
            f"STATES_COLLECTION={value!r} must be <database>.<collection>, for example core.states"
        )
    database, collection = match.groups()
    return database, collection


def positive_number(name: str, default: float, parse: Callable[[str], float], what: str) -> float:
    """A variable that must be a finite number above 0 (``parse`` is int or float), else ConfigurationError."""
    value = env(name)
    if value is None:
        return default
    try:
        number = parse(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ConfigurationError(f"{name}={value!r} must be {what}")
    return number


def states_refresh_seconds() -> float:
    """``STATES_REFRESH_SECONDS``: how long the registry's active names are trusted (default 60)."""
    return positive_number("STATES_REFRESH_SECONDS", STATES_REFRESH_DEFAULT, float,
                           "a positive number of seconds (default 60)")


def auto_create_indexes() -> bool:
    return env_flag("AUTO_CREATE_INDEXES", True)


def propagate_session() -> bool:
    """``PROPAGATE_SESSION``: senders also write the async framework's ``session`` (default off)."""
    return env_flag("PROPAGATE_SESSION", False)


def external_mongodb_connections() -> str | None:
    return env("EXTERNAL_MONGODB_CONNECTIONS")


def mongo_credentials() -> tuple[str | None, str | None]:
    return env("MONGO_DB_USER"), env("MONGO_DB_PASSWORD")


def repository_cache_size(default: int) -> int:
    """``REPOSITORY_CACHE_SIZE``: keys each Repository class caches (a positive integer)."""
    return int(positive_number("REPOSITORY_CACHE_SIZE", default, int, "a positive integer"))


# --- REST API (SPEC §5) ---

def require_auth() -> bool:
    return env_flag("REQUIRE_AUTH", False)


def auth_bypass_token() -> str | None:
    return env("AUTH_BYPASS_TOKEN")


def auth_db_name() -> str:
    return env("AUTH_DB_NAME") or "core"


def cors_allow_origin() -> str:
    """``CORS_ALLOW_ORIGIN`` (default ``*``); CR, LF or NUL in it is a ConfigurationError,
    as the value is sent as a header (``Access-Control-Allow-Origin``)."""
    value = env("CORS_ALLOW_ORIGIN")
    if value is None:
        return "*"
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ConfigurationError("CORS_ALLOW_ORIGIN must not contain CR, LF or NUL (it is sent as a header)")
    return value


API_VARIABLES = ("CORS_ALLOW_ORIGIN", "REQUIRE_AUTH", "APP_ROOT", "LAMBDA_TASK_ROOT")


def api_settings() -> tuple[str, bool, str | None]:
    """``(cors_allow_origin(), require_auth(), APP_ROOT or LAMBDA_TASK_ROOT or None)``: what the
    API reads per request (None: the app root is the cwd); the dispatcher keeps it in an
    ``environ_memo`` over ``API_VARIABLES``."""
    return cors_allow_origin(), require_auth(), env("APP_ROOT") or env("LAMBDA_TASK_ROOT")


# --- Fargate (SPEC §9) ---

def ecs_cluster() -> str | None:
    return env("ECS_CLUSTER")


def ecs_subnets() -> list[str]:
    return env_list("ECS_SUBNETS")


def ecs_security_groups() -> list[str]:
    return env_list("ECS_SECURITY_GROUPS")


def task_name() -> str | None:
    return env("TASK_NAME")


# --- SQS queue naming (SPEC §7, SQSConsumer.get_queue_url) ---

def aws_account_id() -> str | None:
    return env("AWS_ACCOUNT_ID")


def service_name() -> str | None:
    return env("SERVICE_NAME")


def queue_name() -> str | None:
    return env("QUEUE_NAME")


def deployment_env() -> str | None:
    """``ENV``: the deployment stage (dev, staging, prod) in queue names."""
    return env("ENV")
