"""The errors of the idempotency utility, and the HTTP status each one answers with.

They map on every entry point without special code: an SQS record that raises
one fails (and is redelivered), a standalone Lambda returns ``success: false``
with the class name, and an API answers with the status below (the codes of the
IETF ``Idempotency-Key`` header draft), because they are ``HTTPError``s.
Powertools names: ``IdempotencyAlreadyInProgressError`` is
``IdempotencyInProgressError``, ``IdempotencyValidationError`` is
``IdempotencyKeyMismatchError``.
"""

from __future__ import annotations

from ..api.exceptions import HTTPError


class IdempotencyError(Exception):
    """Base of every error of ``aws_helper_sync.idempotency``."""


class IdempotencyConfigError(IdempotencyError, TypeError):
    """The decorator or ``IdempotencyConfig`` was given a bad option (a programming error)."""


class IdempotencyStateError(IdempotencyError, RuntimeError):
    """Idempotent code ran without a constitution-state: there is no database to keep its records in."""


class IdempotencyKeyError(IdempotencyError, HTTPError, ValueError):
    """400: the input has no idempotency key (the path found nothing, the callable returned None).

    Also raised when a key value cannot be encoded (an object that is not JSON or BSON data).
    """

    status_code = 400
    default_message = "The request has no idempotency key"


class IdempotencyInProgressError(IdempotencyError, HTTPError):
    """409: another call with the same key is running and its claim has not expired yet.

    Retry later: in SQS the record fails and comes back after the visibility timeout.
    ``in_progress_until`` is when the running claim expires (a crashed attempt frees the key then).
    """

    status_code = 409
    default_message = "A request with the same idempotency key is in progress"

    def __init__(self, message: str | None = None, in_progress_until: object = None) -> None:
        super().__init__(message)
        self.in_progress_until = in_progress_until


class IdempotencyKeyMismatchError(IdempotencyError, HTTPError, ValueError):
    """422: the key was used before with a different payload (payload validation is on)."""

    status_code = 422
    default_message = "The idempotency key was already used with a different payload"


class IdempotencyResultUnavailableError(IdempotencyError, HTTPError):
    """500: the work of this key completed, but its result could not be stored to be returned again.

    The first call got its result; the record says why it was not stored (over the
    BSON size limit, or not encodable). The work is not run a second time.
    """

    status_code = 500
    default_message = "The result of the first call with this idempotency key was not stored"
