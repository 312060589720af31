"""Bearer-token authentication for the REST API (on when ``REQUIRE_AUTH=true``).

A token is either ``AUTH_BYPASS_TOKEN`` (compared in constant time; an admin
for internal callers) or an active document of ``tokens`` in the database
``AUTH_DB_NAME`` (default ``core``)::

    tokens: {token, user_id, is_active: true, expires_at?: datetime, states?: [str], last_used_at?}
    users:  {_id, is_active?: true, states?: [str], ...}

Stored fields are taken strictly, as a security check must: ``user_id`` is an
ObjectId, str or int (an operator document such as ``{"$ne": null}`` would
otherwise select the first user), ``is_active`` is exactly ``true`` (``"false"``
is a truthy string), and ``states`` is a list of strings. Anything else is a
401, logged with the token's ``_id`` (never the token).

``states`` binds a credential to constitution-states: a request for a state
outside the list is a 403 (:meth:`AuthResult.check_state`); when the token and
its user both carry a list, only the states in both are allowed (a token can
narrow its user, never widen it). No ``states`` field: every state.

Every refusal of the credential is an ``UnauthorizedError`` (401). Database
failures are not refusals: they propagate and become a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import settings
from .._lazy import deferred, deferred_logger
from ..database.mongo_manager import MongoManager
from .exceptions import ForbiddenError, UnauthorizedError

if TYPE_CHECKING:
    import datetime as _dt
    import hmac
else:  # needed once a token is checked, not to import the API (cold start)
    _dt = deferred(__name__, "_dt", "datetime")
    hmac = deferred(__name__, "hmac", "hmac")

logger = deferred_logger(__name__, "logger", __name__)

SECRET_USER_FIELDS = ("password", "password_hash", "hashed_password")
# Far above any real token; a longer one is refused before it reaches MongoDB
# (where a header of megabytes would fail as an oversized query: a 500).
MAX_TOKEN_LENGTH = 4096


class AuthResult:
    """Who made the request: the user (without secrets) and data about the credential.

    ``allowed_states`` is None when the credential may use every state, else the
    states it is bound to (empty: none); ``data["allowed_states"]`` says the same
    to the API (a sorted list, or None). Read-only. (A plain class, not a frozen
    dataclass: ``dataclasses`` imports ``inspect``, a cold-start cost.)
    """

    __slots__ = ("allowed_states", "data", "user")

    user: dict[str, Any]
    data: dict[str, Any]
    allowed_states: frozenset[str] | None

    def __init__(self, user: dict[str, Any], data: dict[str, Any],
                 allowed_states: frozenset[str] | None = None) -> None:
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "allowed_states", allowed_states)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"AuthResult is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"AuthResult is read-only: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuthResult):
            return NotImplemented
        return (self.user, self.data, self.allowed_states) == (other.user, other.data, other.allowed_states)

    __hash__ = None  # type: ignore[assignment]  # as the frozen dataclass: its dicts are unhashable

    def __repr__(self) -> str:
        return f"AuthResult(user={self.user!r}, data={self.data!r}, allowed_states={self.allowed_states!r})"

    def allows(self, state: str) -> bool:
        """Whether this credential may use ``state``."""
        return self.allowed_states is None or state in self.allowed_states

    def check_state(self, state: str) -> None:
        """Raise ``ForbiddenError`` (403) when this credential may not use ``state``."""
        if not self.allows(state):
            raise ForbiddenError(f"this token may not use constitution-state {state!r}")


def bypass_user() -> dict[str, Any]:
    """The user a bypass token stands for."""
    return {"_id": "bypass", "username": "bypass", "role": "admin", "is_admin": True, "is_bypass": True}


def _is_user_id(value: Any) -> bool:
    """A scalar a user can be looked up by: ObjectId, str or int (bool is an int, but not an id)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (str, int)):
        return True
    from bson import ObjectId

    return isinstance(value, ObjectId)


def _bound_states(document: Mapping[str, Any], what: str, token_id: Any) -> frozenset[str] | None:
    """The ``states`` a token or user document is bound to; None when it has no such field.

    A ``states`` that is not a list of strings (null, a string, a dict, a list
    holding a number) says nothing we can trust about what the credential may
    do, so the credential is refused (401) rather than guessed at: never read as
    "every state", and never as the letters of a string.
    """
    if "states" not in document:
        return None
    states = document["states"]
    if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
        logger.warning("token %s refused: the %s's 'states' is %s, not a list of strings",
                       token_id, what, type(states).__name__)
        raise UnauthorizedError("Invalid or inactive token")
    return frozenset(states)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of ``Authorization: Bearer <token>``; anything else -> UnauthorizedError."""
    header = headers.get("authorization")
    if not isinstance(header, str) or not header.strip():  # None, or not text at all
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
        return AuthResult(user=bypass_user(), data={"bypass": True, "allowed_states": None})

    database = MongoManager.get_database(settings.auth_db_name())
    token_doc = database.tokens.find_one({"token": token, "is_active": True})  # token: a str, see bearer_token
    # The query matched on equality, which in MongoDB also matches an array
    # holding the value (``is_active: [true]``); check the stored fields again,
    # the token in constant time, so that no collation or coercion admits a token.
    if (
        token_doc is None
        or token_doc.get("is_active") is not True
        or not isinstance(token_doc.get("token"), str)
        or not hmac.compare_digest(token_doc["token"].encode("utf-8"), token.encode("utf-8"))
    ):
        raise UnauthorizedError("Invalid or inactive token")
    token_id = token_doc.get("_id")

    now = _dt.datetime.now(_dt.timezone.utc)
    if token_doc.get("expires_at") is not None:
        expires_at = _utc(token_doc["expires_at"])
        if expires_at is None or expires_at <= now:
            raise UnauthorizedError("Token expired")

    user_id = token_doc.get("user_id")
    if user_id is None:
        raise UnauthorizedError("Token has no user")
    if not _is_user_id(user_id):  # e.g. {"$ne": null}: a query, not an id
        logger.warning("token %s refused: its user_id is a %s, not an ObjectId, str or int",
                       token_id, type(user_id).__name__)
        raise UnauthorizedError("Token has no user")
    token_states = _bound_states(token_doc, "token", token_id)
    user = database.users.find_one(_user_filter(user_id))
    # A missing is_active means active (as before); a present one must be exactly true.
    if user is None or ("is_active" in user and user["is_active"] is not True):
        raise UnauthorizedError("User not found or inactive")
    user_states = _bound_states(user, "user", token_id)
    if token_states is None or user_states is None:
        allowed = user_states if token_states is None else token_states
    else:
        allowed = token_states & user_states

    try:
        database.tokens.update_one({"_id": token_doc["_id"]}, {"$set": {"last_used_at": now}})
    except Exception:  # bookkeeping only: never refuse a valid token because of it
        logger.warning("could not update last_used_at of token %s", token_doc.get("_id"), exc_info=True)

    data = {k: v for k, v in token_doc.items() if k != "token"}
    data["bypass"] = False
    data["allowed_states"] = None if allowed is None else sorted(allowed)
    return AuthResult(user=public_user(user), data=data, allowed_states=allowed)
