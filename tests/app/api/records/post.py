"""POST /records: stores the body in the current state's database, through a Repository."""

from aws_helper_sync import API, Repository, get_state


class RecordsRepository(Repository):
    collection_name = "records"


class RecordsPost(API):
    def process(self):
        doc = {"payload": self.data, "written_in_state": get_state()}
        inserted = RecordsRepository().collection.insert_one(doc)
        self.set_code(201).set_body({"_id": inserted.inserted_id, "state": get_state()})
