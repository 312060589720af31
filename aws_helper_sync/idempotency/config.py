"""``IdempotencyConfig``: how an idempotent hook or call is keyed, validated and expired.

One config can be shared by several decorators; keyword options of the
decorator override it:

    config = IdempotencyConfig(key="order_id", expires_after=24 * 3600)

    @idempotent(config=config, validate="amount")
    def process_record(self, record): ...
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Union

from .errors import IdempotencyConfigError
from .keys import KeySource, check_source

DEFAULT_COLLECTION = "idempotency"
DEFAULT_EXPIRES_AFTER = 3600.0
DEFAULT_IN_PROGRESS_TIMEOUT = 300.0
# MongoDB's document limit is 16 MiB; the rest of the record needs far less than 16 KiB.
MAX_RESULT_BYTES = 16 * 1024 * 1024 - 16 * 1024

Seconds = Union[int, float, dt.timedelta]

_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,119}")


def _seconds(value: Any, option: str, allow_zero: bool = False) -> float:
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise IdempotencyConfigError(f"{option} must be a number of seconds or a timedelta, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise IdempotencyConfigError(f"{option} must be positive, got {value!r}")
    return float(value)


def as_seconds(value: Seconds) -> float:
    """``value`` in seconds (a config's durations are already floats after ``__post_init__``)."""
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


@dataclass(frozen=True)
class IdempotencyConfig:
    """The options of the idempotency utility (Powertools' ``IdempotencyConfig``, on MongoDB).

    - ``key``: where the key comes from (see ``keys``): None = a hash of the whole
      payload, a dotted path into the payload, a tuple of paths, or a callable
      that gets the hook's input (Powertools: ``event_key_jmespath``).
    - ``validate``: a second source, hashed and stored with the record; a repeat
      whose hash differs raises ``IdempotencyKeyMismatchError``. ``True`` means
      the whole payload (Powertools: ``payload_validation_jmespath``).
    - ``expires_after``: how long a completed record is kept (seconds or a
      timedelta, default 1 hour; Powertools: ``expires_after_seconds``).
    - ``in_progress_timeout``: how long a claim without a Lambda context blocks
      the key (default 300 s); with a context the claim expires when the Lambda's
      remaining time runs out, so a crashed or timed-out attempt frees the key.
    - ``collection``: the collection in the current state's database.
    - ``raise_on_missing_key``: True (default) raises ``IdempotencyKeyError`` when
      the key is missing; False logs a warning and runs without idempotency.
    - ``name``: the prefix of the stored keys (default: the function's module and
      qualified name), so two functions with equal payloads never share a record.
    - ``max_result_bytes``: results larger than this (as BSON) are not stored.
    """

    key: KeySource = None
    validate: KeySource | bool = None
    expires_after: Seconds = DEFAULT_EXPIRES_AFTER
    in_progress_timeout: Seconds = DEFAULT_IN_PROGRESS_TIMEOUT
    collection: str = DEFAULT_COLLECTION
    raise_on_missing_key: bool = True
    name: str | None = None
    max_result_bytes: int = MAX_RESULT_BYTES

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "key", check_source(self.key, "key"))
        if self.validate is not None and self.validate is not True:
            if self.validate is False:
                set_(self, "validate", None)
            else:
                set_(self, "validate", check_source(self.validate, "validate"))
        set_(self, "expires_after", _seconds(self.expires_after, "expires_after"))
        set_(self, "in_progress_timeout", _seconds(self.in_progress_timeout, "in_progress_timeout"))
        if not isinstance(self.collection, str) or not _COLLECTION.fullmatch(self.collection) \
                or self.collection.startswith("system."):
            raise IdempotencyConfigError(
                f"collection must be a MongoDB collection name (letters, digits, '_', '.', '-'), "
                f"got {self.collection!r}"
            )
        if not isinstance(self.raise_on_missing_key, bool):
            raise IdempotencyConfigError(f"raise_on_missing_key must be a bool, got {self.raise_on_missing_key!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name or "#" in self.name):
            raise IdempotencyConfigError(f"name must be a non-empty string without '#', got {self.name!r}")
        if isinstance(self.max_result_bytes, bool) or not isinstance(self.max_result_bytes, int) \
                or not 0 < self.max_result_bytes <= MAX_RESULT_BYTES:
            raise IdempotencyConfigError(
                f"max_result_bytes must be an int from 1 to {MAX_RESULT_BYTES}, got {self.max_result_bytes!r}"
            )

    def with_options(self, **options: Any) -> IdempotencyConfig:
        """A copy with ``options`` replaced (unknown names are a clear error)."""
        if not options:
            return self
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise IdempotencyConfigError(
                f"unknown idempotency option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(self, **options)
