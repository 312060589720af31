"""Handlers of the runtime-client tests (tests/test_lambda_runtime.py), loaded by awslambdaric."""

from aws_helper_sync import api_handler, lambda_handler

probe = lambda_handler("runtime_probe")
api = api_handler
