"""Errors of the library itself, shared by every entry point.

A ``ConfigurationError`` is the operator's fault (a setting is missing or
malformed), never the caller's: it is deliberately not a ``ValueError``, so an
API answers 500 (logged) instead of echoing the setting to the client as a 400.
A ``StateRegistryUnavailableError`` is an outage of the state registry (503).
"""

from __future__ import annotations

import sys

# What a client is told of an outage (503), by the API and the Flask/WSGI integrations alike.
DATABASE_UNAVAILABLE = "Database unavailable"
REGISTRY_UNAVAILABLE = "State registry unavailable"


class ConfigurationError(RuntimeError):
    """A library setting (environment variable or ``configure`` call) is missing or malformed.

    The message names the setting to fix.
    """


class StateRegistryUnavailableError(RuntimeError):
    """The state registry (``STATES_COLLECTION``) could not be read: the state is refused.

    The registry fails closed: a state it cannot confirm is never served. Not a
    ``ValueError`` (the caller did nothing wrong): an API answers 503, a record
    fails and is redelivered, a Lambda returns ``success: false``.
    """


def database_unavailable(exc: BaseException | None) -> bool:
    """True for PyMongo's "no server to talk to" errors (``ConnectionFailure``: server
    selection timeout, AutoReconnect, network timeout, pool wait-queue timeout): a 503.

    Looked up in ``sys.modules`` so that asking never imports pymongo: an
    exception cannot be a PyMongo error before pymongo has been imported.
    """
    errors = sys.modules.get("pymongo.errors")
    return errors is not None and isinstance(exc, errors.ConnectionFailure)
