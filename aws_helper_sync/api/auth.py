"""Bearer-token authentication for the REST API (on when ``REQUIRE_AUTH=true``).

A token is either ``AUTH_BYPASS_TOKEN`` (compared in constant time; an admin
for internal callers) or an active document of ``tokens`` in the database
``AUTH_DB_NAME`` (default ``core``)::

    tokens: {token, user_id, is_active: true, expires_at?: datetime, last_used_at?}
    users:  {_id, is_active?: bool, ...}

Every refusal is an ``UnauthorizedError`` (401). Database failures are not
refusals: they propagate and become a 500.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import settings
from ..database.mongo_manager import MongoManager
from .exceptions import UnauthorizedError

logger = logging.getLogger(__name__)

SECRET_USER_FIELDS = ("password", "password_hash", "hashed_password")
# Far above any real token; a longer one is refused before it reaches MongoDB
# (where a header of megabytes would fail as an oversized query: a 500).
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class AuthResult:
    """Who made the request: the user (without secrets) and data about the credential."""

    user: dict[str, Any]
    data: dict[str, Any]


def bypass_user() -> dict[str, Any]:
    """The user a bypass token stands for."""
    return {"_id": "bypass", "username": "bypass", "role": "admin", "is_admin": True, "is_bypass": True}


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of ``Authorization: Bearer <token>``; anything else -> UnauthorizedError."""
    header = headers.get("authorization")
    if header is None or not header.strip():
        raise UnauthorizedError("Missing Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise UnauthorizedError("Authorization header must use the Bearer scheme")
    token = token.strip()
    if not token:
        raise UnauthorizedError("Missing bearer token")
    if len(token) > MAX_TOKEN_LENGTH or not _is_utf8_encodable(token):
        # Cannot be a stored token, and would fail the constant-time compare or the
        # BSON encoding of the lookup (lone surrogates): the client's fault, a 401.
        raise UnauthorizedError("Invalid or inactive token")
    return token


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utc(value: Any) -> _dt.datetime | None:
    """``expires_at`` as an aware UTC datetime; PyMongo returns naive UTC by default."""
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    return None


def _user_filter(user_id: Any) -> dict[str, Any]:
    """Match ``user_id`` as stored, and as an ObjectId when it is one in text form."""
    if isinstance(user_id, str) and len(user_id) == 24:
        from bson import ObjectId

        if ObjectId.is_valid(user_id):
            return {"_id": {"$in": [user_id, ObjectId(user_id)]}}
    return {"_id": user_id}


def public_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the user document without password fields."""
    return {k: v for k, v in user.items() if k not in SECRET_USER_FIELDS}


def authenticate(headers: Mapping[str, str]) -> AuthResult:
    """Check the request's bearer token and return the user it belongs to."""
    token = bearer_token(headers)
    bypass = settings.auth_bypass_token()
    if bypass is not None and hmac.compare_digest(token.encode("utf-8"), bypass.encode("utf-8")):
        return AuthResult(user=bypass_user(), data={"bypass": True})

    database = MongoManager.get_database(settings.auth_db_name())
    token_doc = database.tokens.find_one({"token": token, "is_active": True})
    # The query matched on equality; compare again in constant time so that a
    # server-side collation or type coercion can never admit a different token.
    if token_doc is None or not isinstance(token_doc.get("token"), str) or not hmac.compare_digest(
        token_doc["token"].encode("utf-8"), token.encode("utf-8")
    ):
        raise UnauthorizedError("Invalid or inactive token")

    now = _dt.datetime.now(_dt.timezone.utc)
    if token_doc.get("expires_at") is not None:
        expires_at = _utc(token_doc["expires_at"])
        if expires_at is None or expires_at <= now:
            raise UnauthorizedError("Token expired")

    user_id = token_doc.get("user_id")
    if user_id is None:
        raise UnauthorizedError("Token has no user")
    user = database.users.find_one(_user_filter(user_id))
    if user is None or ("is_active" in user and not user["is_active"]):
        raise UnauthorizedError("User not found or inactive")

    try:
        database.tokens.update_one({"_id": token_doc["_id"]}, {"$set": {"last_used_at": now}})
    except Exception:  # bookkeeping only: never refuse a valid token because of it
        logger.warning("could not update last_used_at of token %s", token_doc.get("_id"), exc_info=True)

    data = {k: v for k, v in token_doc.items() if k != "token"}
    data["bypass"] = False
    return AuthResult(user=public_user(user), data=data)
