"""Connection-string helpers: build from parts, inject credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import deferred

if TYPE_CHECKING:
    from urllib.parse import quote_plus
else:  # needed when a connection string is built, not at cold start
    quote_plus = deferred(__name__, "quote_plus", "urllib.parse", "quote_plus")


def _split_scheme(uri: str) -> tuple[str, str]:
    if "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://", rest
    return "mongodb://", uri


def build_connection_string(
    host: str,
    username: str | None = None,
    password: str | None = None,
    database: str | None = None,
    options: str | None = None,
) -> str:
    """A MongoDB URI from its parts; user and password are URL-encoded.

    >>> build_connection_string("db.example.net", "app", "p@ss:word", "core", "w=majority")
    'mongodb://app:p%40ss%3Aword@db.example.net/core?w=majority'
    """
    scheme, hosts = _split_scheme(host.strip())
    hosts = hosts.rstrip("/")
    credentials = ""
    if username:
        credentials = quote_plus(username)
        if password:
            credentials += ":" + quote_plus(password)
        credentials += "@"
    path = f"/{database}" if database else ("/" if options else "")
    query = f"?{options.lstrip('?')}" if options else ""
    return f"{scheme}{credentials}{hosts}{path}{query}"


def inject_credentials(uri: str, username: str, password: str) -> str:
    """Return ``uri`` with its credentials replaced by ``username``/``password``.

    Only the authority part (before the first ``/``) is inspected, and the last
    ``@`` in it ends any existing credentials, so hosts and options are kept.
    """
    scheme, rest = _split_scheme(uri.strip())
    authority, sep, tail = rest.partition("/")
    hosts = authority.rsplit("@", 1)[-1]
    return f"{scheme}{quote_plus(username)}:{quote_plus(password)}@{hosts}{sep}{tail}"


def redact(uri: str) -> str:
    """The URI with any password replaced, for error messages and logs."""
    scheme, rest = _split_scheme(uri)
    authority, sep, tail = rest.partition("/")
    if "@" not in authority:
        return uri
    credentials, hosts = authority.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}{user}:***@{hosts}{sep}{tail}"
