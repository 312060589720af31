"""lambda_handler("notes"): counts the notes of the state's database (outage test)."""

from aws_helper_sync import Lambda, get_state


class NotesLambda(Lambda):
    def process(self):
        return {"state": get_state(), "notes": self.db[get_state()].notes.count_documents({})}
