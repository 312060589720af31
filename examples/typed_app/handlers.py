"""The handler strings of the typed example (``handlers.api``, ``handlers.note_reads``...)."""

from __future__ import annotations

from aws_helper_sync import api_handler, lambda_handler, sqs_handler

api = api_handler
note_reads = sqs_handler("note_reads")
note_count = lambda_handler("note_count")
