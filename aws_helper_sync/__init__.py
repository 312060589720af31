"""aws-helper-sync: a synchronous, thread-safe framework for AWS services on MongoDB.

Names are re-exported lazily (PEP 562), so ``import aws_helper_sync`` loads
neither boto3 nor pymongo: Lambda cold starts pay only for what is used.

    from aws_helper_sync import Repository, state_scope
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .context.state import (
    InvalidStateError,
    UnknownStateError,
    get_state,
    set_state,
    state_scope,
)

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
    "ConflictingStateSourcesError": "aws_helper_sync.context.sources",
    "MalformedSessionError": "aws_helper_sync.context.sources",
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
    "StateRegistryUnavailableError": "aws_helper_sync.errors",
    "reload_state_registry": "aws_helper_sync.context.registry",
    "ContextThreadPoolExecutor": "aws_helper_sync.context.threads",
    "submit_with_context": "aws_helper_sync.context.threads",
    "StateLogFilter": "aws_helper_sync.context.log_filter",
    "set_allowed_states": "aws_helper_sync.context.state",
    "validate_state": "aws_helper_sync.context.state",
    "for_each_state": "aws_helper_sync.scripts",
    "StateRunResults": "aws_helper_sync.scripts",
    "StateRunError": "aws_helper_sync.scripts",
    "idempotent": "aws_helper_sync.idempotency.decorator",
    "idempotent_call": "aws_helper_sync.idempotency.decorator",
    "IdempotencyConfig": "aws_helper_sync.idempotency.config",
    "IdempotencyError": "aws_helper_sync.idempotency.errors",
    "IdempotencyInProgressError": "aws_helper_sync.idempotency.errors",
    "IdempotencyKeyError": "aws_helper_sync.idempotency.errors",
    "IdempotencyKeyMismatchError": "aws_helper_sync.idempotency.errors",
}

__all__ = [
    "API",
    "ApiResponse",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictingStateSourcesError",
    "ContextThreadPoolExecutor",
    "DatabaseProxy",
    "ExternalDatabaseProxy",
    "ExternalMongoManager",
    "FargateExecutor",
    "FargateTask",
    "ForbiddenError",
    "IdempotencyConfig",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyKeyMismatchError",
    "InvalidStateError",
    "Lambda",
    "LambdaInvocationError",
    "LambdaInvoker",
    "MalformedSessionError",
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
    "StateRegistryUnavailableError",
    "StateRunError",
    "StateRunResults",
    "UnauthorizedError",
    "UnknownStateError",
    "api_handler",
    "fargate_handler",
    "for_each_state",
    "get_state",
    "idempotent",
    "idempotent_call",
    "lambda_handler",
    "mongo_json_dumps",
    "reload_state_registry",
    "run_worker",
    "serialize_mongo_types",
    "set_allowed_states",
    "set_state",
    "sqs_handler",
    "state_scope",
    "submit_with_context",
    "validate_state",
]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from aws_helper_sync.api.base import API
    from aws_helper_sync.api.exceptions import (
        AuthenticationError,
        ForbiddenError,
        UnauthorizedError,
    )
    from aws_helper_sync.api.handler import api_handler
    from aws_helper_sync.context.log_filter import StateLogFilter
    from aws_helper_sync.context.registry import reload_state_registry
    from aws_helper_sync.context.sources import (
        ConflictingStateSourcesError,
        MalformedSessionError,
    )
    from aws_helper_sync.context.state import set_allowed_states, validate_state
    from aws_helper_sync.context.threads import (
        ContextThreadPoolExecutor,
        submit_with_context,
    )
    from aws_helper_sync.database import (
        DatabaseProxy,
        ExternalDatabaseProxy,
        ExternalMongoManager,
        MongoManager,
    )
    from aws_helper_sync.errors import ConfigurationError, StateRegistryUnavailableError
    from aws_helper_sync.fargate.executor import FargateExecutor
    from aws_helper_sync.fargate.handler import fargate_handler
    from aws_helper_sync.fargate.task_base import FargateTask
    from aws_helper_sync.idempotency.config import IdempotencyConfig
    from aws_helper_sync.idempotency.decorator import idempotent, idempotent_call
    from aws_helper_sync.idempotency.errors import (
        IdempotencyError,
        IdempotencyInProgressError,
        IdempotencyKeyError,
        IdempotencyKeyMismatchError,
    )
    from aws_helper_sync.lambda_standalone.base import Lambda
    from aws_helper_sync.lambda_standalone.handler import lambda_handler
    from aws_helper_sync.lambda_standalone.invoker import (
        LambdaInvocationError,
        LambdaInvoker,
    )
    from aws_helper_sync.repository.base import Repository
    from aws_helper_sync.scripts import StateRunError, StateRunResults, for_each_state
    from aws_helper_sync.sns.publisher import PublishBatchError, SNSPublisher
    from aws_helper_sync.sqs.consumer_base import SQSConsumer
    from aws_helper_sync.sqs.handler import sqs_handler
    from aws_helper_sync.sqs.publisher import SendMessageBatchError, SQSPublisher
    from aws_helper_sync.sqs.worker import SQSWorker, run_worker
    from aws_helper_sync.utils.json_encoder import MongoJSONEncoder, mongo_json_dumps
    from aws_helper_sync.utils.response import ApiResponse
    from aws_helper_sync.utils.serializer import serialize_mongo_types
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
