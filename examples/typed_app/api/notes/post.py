"""POST /notes: store a note in the caller's state (201), typed end to end."""

from __future__ import annotations

from aws_helper_sync import API
from aws_helper_sync.api import BadRequestError

from repositories import NoteRepository


class NotesPost(API):
    def validate(self) -> None:
        for field in ("note_id", "text"):
            value = self.data.get(field)
            if not isinstance(value, str) or not value.strip():
                raise BadRequestError(f"{field} must be a non-empty string")

    def process(self) -> dict[str, str]:
        note_id, text = str(self.data["note_id"]), str(self.data["text"])
        NoteRepository().add(note_id, text)
        # set_code() returns the subclass itself (Self), so chaining stays typed
        self.set_code(201).set_header("Location", f"/notes/{note_id}")
        return {"note_id": note_id}
