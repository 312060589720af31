"""HTTP reason phrases by status code (for ALB's ``statusDescription``).

The table ``http.client.responses`` holds, built from ``http.HTTPStatus``
alone: ``http.client`` would also import ``email``, ``ssl`` and ``socket``
(about 20 ms at cold start). Imported by ``api.events`` on first use.
"""

from __future__ import annotations

from http import HTTPStatus

PHRASES: dict[int, str] = {status.value: status.phrase for status in HTTPStatus.__members__.values()}
