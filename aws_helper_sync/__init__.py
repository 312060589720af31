"""aws-helper-sync: a synchronous, thread-safe framework for AWS services on MongoDB.

Names are re-exported lazily (PEP 562), so ``import aws_helper_sync`` loads
neither boto3 nor pymongo: Lambda cold starts pay only for what is used.

    from aws_helper_sync import Repository, state_scope
"""

from __future__ import annotations

from ._lazy import lazy_exports
from .context.state import InvalidStateError, get_state, set_state, state_scope

__version__ = "0.1.0"

_LAZY = {
    "API": "aws_helper_sync.api.base",
    "api_handler": "aws_helper_sync.api.handler",
    "UnauthorizedError": "aws_helper_sync.api.exceptions",
    "ForbiddenError": "aws_helper_sync.api.exceptions",
    "AuthenticationError": "aws_helper_sync.api.exceptions",
    "SQSConsumer": "aws_helper_sync.sqs.consumer_base",
    "sqs_handler": "aws_helper_sync.sqs.handler",
    "SNSPublisher": "aws_helper_sync.sns.publisher",
    "PublishBatchError": "aws_helper_sync.sns.publisher",
    "SQSPublisher": "aws_helper_sync.sqs.publisher",
    "SendMessageBatchError": "aws_helper_sync.sqs.publisher",
    "SQSWorker": "aws_helper_sync.sqs.worker",
    "run_worker": "aws_helper_sync.sqs.worker",
    "Lambda": "aws_helper_sync.lambda_standalone.base",
    "lambda_handler": "aws_helper_sync.lambda_standalone.handler",
    "LambdaInvoker": "aws_helper_sync.lambda_standalone.invoker",
    "LambdaInvocationError": "aws_helper_sync.lambda_standalone.invoker",
    "FargateTask": "aws_helper_sync.fargate.task_base",
    "FargateExecutor": "aws_helper_sync.fargate.executor",
    "fargate_handler": "aws_helper_sync.fargate.handler",
    "Repository": "aws_helper_sync.repository.base",
    "MongoManager": "aws_helper_sync.database",
    "ExternalMongoManager": "aws_helper_sync.database",
    "DatabaseProxy": "aws_helper_sync.database",
    "ExternalDatabaseProxy": "aws_helper_sync.database",
    "MongoJSONEncoder": "aws_helper_sync.utils.json_encoder",
    "mongo_json_dumps": "aws_helper_sync.utils.json_encoder",
    "serialize_mongo_types": "aws_helper_sync.utils.serializer",
    "ApiResponse": "aws_helper_sync.utils.response",
    "ConfigurationError": "aws_helper_sync.errors",
    "ContextThreadPoolExecutor": "aws_helper_sync.context.threads",
    "submit_with_context": "aws_helper_sync.context.threads",
    "StateLogFilter": "aws_helper_sync.context.log_filter",
    "set_allowed_states": "aws_helper_sync.context.state",
    "validate_state": "aws_helper_sync.context.state",
    "for_each_state": "aws_helper_sync.scripts",
    "StateRunResults": "aws_helper_sync.scripts",
    "StateRunError": "aws_helper_sync.scripts",
}

__all__ = [
    "API",
    "ApiResponse",
    "AuthenticationError",
    "ConfigurationError",
    "ContextThreadPoolExecutor",
    "DatabaseProxy",
    "ExternalDatabaseProxy",
    "ExternalMongoManager",
    "FargateExecutor",
    "FargateTask",
    "ForbiddenError",
    "InvalidStateError",
    "Lambda",
    "LambdaInvocationError",
    "LambdaInvoker",
    "MongoJSONEncoder",
    "MongoManager",
    "PublishBatchError",
    "Repository",
    "SNSPublisher",
    "SQSConsumer",
    "SQSPublisher",
    "SQSWorker",
    "SendMessageBatchError",
    "StateLogFilter",
    "StateRunError",
    "StateRunResults",
    "UnauthorizedError",
    "api_handler",
    "fargate_handler",
    "for_each_state",
    "get_state",
    "lambda_handler",
    "mongo_json_dumps",
    "run_worker",
    "serialize_mongo_types",
    "set_allowed_states",
    "set_state",
    "sqs_handler",
    "state_scope",
    "submit_with_context",
    "validate_state",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
