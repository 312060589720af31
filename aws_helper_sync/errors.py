"""Errors of the library itself, shared by every entry point.

A ``ConfigurationError`` is the operator's fault (a setting is missing or
malformed), never the caller's: it is deliberately not a ``ValueError``, so an
API answers 500 (logged) instead of echoing the setting to the client as a 400.
"""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """A library setting (environment variable or ``configure`` call) is missing or malformed.

    The message names the setting to fix.
    """
