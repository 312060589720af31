"""The MongoDB store of idempotency records: one collection per state's database.

A record is ``{"_id": "<name>#<sha256>", "status", "claim", "expires_at",
"in_progress_until", "validation", "result", "result_stored"}``. How it moves:

- claim: one ``insert_one`` (the unique ``_id`` makes it atomic). When the key
  exists and its record has expired (``expires_at`` passed: MongoDB's TTL
  monitor deletes lazily, about once a minute) or is an in-progress claim past
  ``in_progress_until`` (its attempt crashed or timed out), the record is
  taken over with ``find_one_and_replace`` filtered on the old claim token, so
  of two takers only one can win.
- complete: ``update_one`` filtered on our claim token sets the result.
- release (the body raised): ``delete_one`` filtered on our claim token, so a
  slow attempt never deletes the claim of the attempt that took over from it.

Collections and their TTL index are cached per (state database, collection)
by ``Repository``: the index is created once per database per process.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..context.state import get_state
from ..repository.base import Repository
from ..utils.serializer import serialize_mongo_types
from .config import MAX_RESULT_BYTES
from .errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyMismatchError,
    IdempotencyResultUnavailableError,
    IdempotencyStateError,
)

if TYPE_CHECKING:
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
TTL_INDEX = "idempotency_expires_at_ttl"
_CLAIM_ATTEMPTS = 8  # each failed attempt means another caller changed the record meanwhile


class IdempotencyRecords(Repository):
    """The records collection in the current state's database, with its TTL index."""

    collection_name = "idempotency"
    indexes = ({"key": [("expires_at", 1)], "expireAfterSeconds": 0, "name": TTL_INDEX},)


_repositories: dict[str, IdempotencyRecords] = {}
_repositories_lock = threading.Lock()


def records_repository(collection: str) -> IdempotencyRecords:
    """The (cached, thread-safe) repository of ``collection``: one subclass per collection name."""
    repo = _repositories.get(collection)
    if repo is None:
        with _repositories_lock:
            repo = _repositories.get(collection)
            if repo is None:
                cls = IdempotencyRecords if collection == IdempotencyRecords.collection_name else type(
                    f"IdempotencyRecords_{len(_repositories)}", (IdempotencyRecords,), {"collection_name": collection}
                )
                repo = _repositories[collection] = cls()
    return repo


def utcnow() -> dt.datetime:
    """Now in UTC, at MongoDB's millisecond precision (what is stored is what is compared)."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


@dataclass
class Claim:
    """Our claim on a key: only the holder of ``token`` may complete or release it."""

    collection: Collection[dict[str, Any]]
    key: str
    token: str
    took_over: str | None = None  # the status of the expired record we replaced, if any


@dataclass
class StoredResult:
    """A completed record: the stored result, returned instead of running again."""

    key: str
    result: Any


def current_collection(collection: str) -> Collection[dict[str, Any]]:
    """The records collection in the current state's database; no state -> IdempotencyStateError."""
    if get_state() is None:
        raise IdempotencyStateError(
            "idempotency needs a constitution-state: its records live in the state's database, so that "
            "equal keys of two states never collide (run inside an entry point or state_scope(...))"
        )
    return records_repository(collection).collection


def claim(
    collection: Collection[dict[str, Any]],
    key: str,
    *,
    validation: str | None,
    in_progress_until: dt.datetime,
    expires_at: dt.datetime,
) -> Claim | StoredResult:
    """Claim ``key`` for one run, or return its stored result; raises when it is taken.

    - a new key, or an expired record: claimed (``Claim``);
    - a completed record: ``StoredResult`` (``IdempotencyResultUnavailableError``
      when its result could not be stored);
    - an in-progress claim that has not expired: ``IdempotencyInProgressError``;
    - a validation hash that differs from the stored one: ``IdempotencyKeyMismatchError``.
    """
    from pymongo import ReturnDocument
    from pymongo.errors import DuplicateKeyError

    token = uuid.uuid4().hex
    fields = {
        "status": IN_PROGRESS,
        "claim": token,
        "in_progress_until": in_progress_until,
        "expires_at": max(expires_at, in_progress_until),
        "validation": validation,
    }
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            collection.insert_one({"_id": key, **fields})
            return Claim(collection, key, token)
        except DuplicateKeyError:
            pass
        existing = collection.find_one({"_id": key})
        if existing is None:
            continue  # released or expired since our insert: claim again
        now = utcnow()
        if _expired(existing, now):
            replaced = collection.find_one_and_replace(
                {"_id": key, "claim": existing.get("claim")}, fields, return_document=ReturnDocument.BEFORE,
            )
            if replaced is not None:
                logger.warning(
                    "idempotency key %s: took over an expired %s record%s", key, existing.get("status"),
                    " (its attempt crashed or outran its in-progress expiry)"
                    if existing.get("status") == IN_PROGRESS else "",
                )
                return Claim(collection, key, token, took_over=str(existing.get("status")))
            continue  # another caller changed it first: look again
        stored_validation = existing.get("validation")
        if validation is not None and stored_validation is not None and stored_validation != validation:
            raise IdempotencyKeyMismatchError(
                "this idempotency key was already used with a different payload "
                "(payload validation is on: same key, different validated fields)"
            )
        if existing.get("status") == COMPLETED:
            if not existing.get("result_stored", True):
                raise IdempotencyResultUnavailableError(
                    f"the work of idempotency key {key} completed, but its result was not stored "
                    f"({existing.get('result_error', 'unknown reason')}); it is not run again"
                )
            result = existing.get("result")
            return StoredResult(key, result.get("v") if isinstance(result, dict) else None)
        until = _utc(existing.get("in_progress_until"))
        raise IdempotencyInProgressError(
            "a call with the same idempotency key is in progress"
            + (f" (its claim expires at {until.isoformat()})" if until else "")
            + "; retry later",
            in_progress_until=until,
        )
    raise IdempotencyError(f"idempotency key {key}: the record kept changing; gave up after {_CLAIM_ATTEMPTS} attempts")


def _expired(record: dict[str, Any], now: dt.datetime) -> bool:
    expires_at = _utc(record.get("expires_at"))
    if expires_at is not None and expires_at <= now:
        return True
    if record.get("status") == IN_PROGRESS:
        until = _utc(record.get("in_progress_until"))
        return until is None or until <= now
    return False


def encode_result(result: Any, codec_options: Any, max_bytes: int = MAX_RESULT_BYTES) -> tuple[Any, str | None]:
    """``(raw BSON of {"v": result}, None)``, or ``(None, why it cannot be stored)``.

    BSON keeps ObjectId, datetime and the like as they are; what BSON cannot hold
    (Decimal, set, non-string keys, ...) is stored in its JSON-ready form
    (``serialize_mongo_types``). Encoded once here; the update sends these bytes.
    """
    import bson
    from bson.errors import InvalidDocument
    from bson.raw_bson import RawBSONDocument

    unencodable = (InvalidDocument, TypeError, ValueError, OverflowError)  # ValueError: a UUID, no representation
    try:
        data = bson.encode({"v": result}, codec_options=codec_options)
    except unencodable:
        try:
            data = bson.encode({"v": serialize_mongo_types(result)}, codec_options=codec_options)
        except unencodable as exc:
            return None, f"a {type(result).__name__} cannot be stored in MongoDB: {exc}"
    if len(data) > max_bytes:
        return None, f"the result is {len(data):,} bytes of BSON, over the limit of {max_bytes:,}"
    return RawBSONDocument(data), None


def complete(claim: Claim, result: Any, expires_at: dt.datetime, max_bytes: int = MAX_RESULT_BYTES) -> bool:
    """Store ``result`` under our claim; False when it was not stored (logged).

    A failure here never fails the caller: the work is done, and failing the
    unit would only make a retry run it again once the claim expires.
    """
    raw, problem = encode_result(result, claim.collection.codec_options, max_bytes)
    fields: dict[str, Any] = {"status": COMPLETED, "expires_at": expires_at, "result_stored": raw is not None}
    if raw is not None:
        fields["result"] = raw
    else:
        fields["result_error"] = problem
        logger.error("idempotency key %s: completed, but its result is not stored: %s", claim.key, problem)
    try:
        outcome = claim.collection.update_one(
            {"_id": claim.key, "claim": claim.token}, {"$set": fields, "$unset": {"in_progress_until": ""}},
        )
    except Exception:
        logger.exception(
            "idempotency key %s: the work completed but its record could not be saved; "
            "a repeat is refused until the claim expires, then runs again", claim.key,
        )
        return False
    if outcome.matched_count == 0:
        logger.warning(
            "idempotency key %s: completed after its claim expired and was taken over by another attempt "
            "(raise in_progress_timeout, or give the Lambda more time)", claim.key,
        )
        return False
    return raw is not None


def release(claim: Claim) -> None:
    """Delete our claim (the body raised) so a retry can run; never raises (the body's error matters)."""
    try:
        claim.collection.delete_one({"_id": claim.key, "claim": claim.token})
    except Exception:
        logger.exception(
            "idempotency key %s: could not release the claim; the key stays blocked until it expires", claim.key,
        )
