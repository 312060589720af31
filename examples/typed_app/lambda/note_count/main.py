"""lambda_handler("note_count"): how many notes the caller's state holds."""

from __future__ import annotations

from aws_helper_sync import Lambda, get_state

from repositories import NoteRepository


class NoteCountLambda(Lambda):
    def process(self) -> dict[str, object]:
        return {"state": get_state(), "notes": NoteRepository().count()}
