"""GET /failures/<kind>: raises the kind of error named in the path."""

from aws_helper_sync.api.base import API
from aws_helper_sync.api.exceptions import (
    AuthenticationError,
    ForbiddenError,
    HTTPError,
    NotFoundError,
    UnauthorizedError,
)

SECRET = "mongodb://admin:hunter2@db.internal:27017"

ERRORS = {
    "runtime": lambda: RuntimeError(f"cannot reach {SECRET}"),
    "key": lambda: KeyError(SECRET),
    "value": lambda: ValueError("amount must be positive"),
    "unauthorized": lambda: UnauthorizedError("token revoked"),
    "authentication": lambda: AuthenticationError("signature mismatch"),
    "forbidden": lambda: ForbiddenError("clerks only"),
    "notfound": lambda: NotFoundError("no such parcel"),
    "server": lambda: HTTPError(f"upstream said {SECRET}"),
}


class FailuresGet(API):
    def process(self):
        raise ERRORS[self.path_parameters[0]]()
