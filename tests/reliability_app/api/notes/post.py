"""POST /notes: one note in the current state's database (outage, injection and load tests).

Body ``{"text": str, "intended_state": str?}``: ``intended_state`` is what the
caller meant, ``written_in_state`` what the framework put in context, so a
test can find any document that landed in another state's database.
"""

from aws_helper_sync import API, Repository, get_state


class NotesRepository(Repository):
    collection_name = "notes"


class NotesPost(API):
    def validate(self):
        text = self.data.get("text")
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        intended = self.data.get("intended_state")
        if intended is not None and not isinstance(intended, str):
            raise ValueError("intended_state must be a string")

    def process(self):
        doc = {
            "text": self.data["text"],
            "intended_state": self.data.get("intended_state"),
            "written_in_state": get_state(),
        }
        inserted = NotesRepository().collection.insert_one(doc)
        self.set_code(201).set_body({"_id": inserted.inserted_id, "state": get_state()})
