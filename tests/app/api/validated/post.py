"""POST /validated: validate() refuses a body without "name"; process() must then not run."""

from aws_helper_sync import API, get_state


class ValidatedPost(API):
    def validate(self):
        self.seen_state_in_validate = get_state()
        if not self.data.get("name"):
            raise ValueError("name is required")

    def process(self):
        self.db[get_state()].validated.insert_one({"name": self.data["name"]})
        self.set_body({"state_in_validate": self.seen_state_in_validate, "name": self.data["name"]})
