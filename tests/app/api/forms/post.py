"""POST /forms: an HTML form (application/x-www-form-urlencoded) stored in the state's database."""

from aws_helper_sync import API, Repository


class FormsRepository(Repository):
    collection_name = "forms"


class FormsPost(API):
    body_format = "form"

    def process(self):
        inserted = FormsRepository().collection.insert_one({"fields": dict(self.data)})
        stored = FormsRepository().collection.find_one({"_id": inserted.inserted_id})
        self.set_code(201)
        return {"stored": stored["fields"], "raw_body": self.raw_body.decode()}
