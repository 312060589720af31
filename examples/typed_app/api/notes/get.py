"""GET /notes/<note_id>: one note of the caller's state, or 404."""

from __future__ import annotations

from typing import Any

from aws_helper_sync import API
from aws_helper_sync.api import NotFoundError

from repositories import NoteRepository


class NotesGet(API):
    def process(self) -> dict[str, Any]:
        note_id = self.path_parameters[0]
        note = NoteRepository().get(note_id)
        if note is None:
            raise NotFoundError(f"note {note_id} not found")
        agent = self.headers.get("user-agent")  # str | None: checked, not assumed
        if agent is not None:
            self.set_header("X-Seen-Agent", agent[:40])
        return note
