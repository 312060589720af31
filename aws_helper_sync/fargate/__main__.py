"""``python -m aws_helper_sync.fargate [TASK_NAME]``: a container command for Fargate tasks.

Configures logging (stderr, with the state on every line) because this is a
program, not an import, then exits with ``fargate_handler``'s code.
"""

from __future__ import annotations

import logging
import sys

from ..context.log_filter import install_state_log_filter
from .handler import fargate_handler

USAGE = "usage: python -m aws_helper_sync.fargate [TASK_NAME]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or any(a in ("-h", "--help") for a in args):
        print(USAGE, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(constitution_state)s] %(name)s: %(message)s",
    )
    install_state_log_filter()
    return fargate_handler(args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
