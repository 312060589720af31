"""GET /notes/<ObjectId>: one note of the current state's database, or 404."""

from bson import ObjectId

from aws_helper_sync import API, Repository
from aws_helper_sync.api.exceptions import NotFoundError


class NotesRepository(Repository):
    collection_name = "notes"


class NotesGet(API):
    def validate(self):
        if not ObjectId.is_valid(self.path_parameters[0]):
            raise ValueError("note id must be a 24-hex ObjectId")

    def process(self):
        note = NotesRepository().collection.find_one({"_id": ObjectId(self.path_parameters[0])})
        if note is None:
            raise NotFoundError("no such note")
        self.set_body(note)
