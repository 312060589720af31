"""The Lambda handlers of the land-records service: what template.yaml's ``Handler`` strings name.

    Handler: handlers.api             API Gateway (HTTP API or REST): every route under api/
    Handler: handlers.parcel_events   the parcel-events SQS queue (ReportBatchItemFailures on)
    Handler: handlers.parcel_report   the standalone report Lambda

Lambda imports this module from the task root (``LAMBDA_TASK_ROOT``, /var/task),
which is also the app root the handlers find ``api/``, ``consumer/`` and ``lambda/``
in, so no ``APP_ROOT`` is needed. Importing it is cheap: each entry point is
loaded on its first invocation. The reindex task runs in a container instead:
``python -m aws_helper_sync.fargate`` (see the task definition in template.yaml).
"""

from __future__ import annotations

from aws_helper_sync import api_handler, lambda_handler, sqs_handler

api = api_handler
parcel_events = sqs_handler("parcel_events")
parcel_report = lambda_handler("parcel_report")
