"""``python preload.py <handler>``: awslambdaric with the handler imported and MongoDB used before the fork.

awslambdaric 4.2.2 forks the AWS_LAMBDA_MAX_CONCURRENCY workers first and
imports the handler in each; the client's repository after it imports the
handler in the parent before forking (to run ``register_pre_fork`` hooks), so
the workers inherit the module and whatever it set up. This runs 4.2.2 that way:
the module is imported and the library's MongoClient connected in the parent,
so every worker inherits both and must not use the parent's client.
"""

import os
import sys

import awslambdaric.__main__
import handlers  # noqa: F401 - imported before the fork, on purpose

from aws_helper_sync import MongoManager

MongoManager.get_client().admin.command("ping")
os.environ["PRELOAD_PARENT_PID"] = str(os.getpid())
awslambdaric.__main__.main(sys.argv)
