"""GET /noclass: a route file that forgot to define its API class."""

VALUE = 1
