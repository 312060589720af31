"""GET /importfail: a route file that fails while it is imported, naming its path."""

raise RuntimeError(f"cannot load settings next to {__file__}")
