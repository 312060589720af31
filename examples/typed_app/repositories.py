"""The typed example's data access: one collection per constitution-state.

Run ``mypy --strict`` over this folder (tests/test_typing.py does): every
method below is checked against the library's own types, e.g.
``self.collection.find_one()`` is ``dict[str, Any] | None``, not ``Any``.
"""

from __future__ import annotations

from typing import Any

from aws_helper_sync import Repository


class NoteRepository(Repository):
    """Notes of the current state, one document per note id."""

    collection_name = "notes"
    indexes = ({"key": [("note_id", 1)], "unique": True, "name": "note_id_unique"},)

    def add(self, note_id: str, text: str) -> None:
        self.collection.insert_one({"note_id": note_id, "text": text, "reads": 0})

    def get(self, note_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"note_id": note_id}, {"_id": 0})

    def mark_read(self, note_id: str) -> bool:
        """True when the note exists (its ``reads`` counter went up)."""
        result = self.collection.update_one({"note_id": note_id}, {"$inc": {"reads": 1}})
        return result.matched_count == 1

    def count(self) -> int:
        return self.collection.count_documents({})
