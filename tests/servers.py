"""Real test servers: SecantusDB (a MongoDB wire-protocol server) and moto.

Both run on 127.0.0.1 only and are started by the test session itself, so a
fresh machine needs nothing but ``pip install -e '.[test]'``. The demo
(``aws-helper-sync demo``) reuses the same code through aws_helper_sync.devservers.
"""

from aws_helper_sync.devservers import MotoServer, SecantusServer

__all__ = ["MotoServer", "SecantusServer"]
