"""The note-reads queue: each message ``{"note_id": ...}`` counts one read of a note.

    handler = sqs_handler("note_reads")
"""

from __future__ import annotations

from typing import Any

from aws_helper_sync import SQSConsumer

from repositories import NoteRepository


class NoteReadsConsumer(SQSConsumer):
    def process_record(self, record: dict[str, Any]) -> None:
        message = self.parse_body(record)
        note_id = message.get("note_id") if isinstance(message, dict) else None
        if not isinstance(note_id, str):
            self.add_message_failed(record["messageId"], "not a note read: no note_id")
            return
        if not NoteRepository().mark_read(note_id):
            raise LookupError(f"note {note_id} not found")  # the record fails, SQS redelivers it
