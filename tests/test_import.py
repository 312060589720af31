"""``import aws_helper_sync`` stays cheap and the public names resolve."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "aws_helper_sync.repository.base": ["Repository"],
    "aws_helper_sync.database": [
        "MongoManager", "ExternalMongoManager", "DatabaseProxy", "ExternalDatabaseProxy",
    ],
    "aws_helper_sync.context": ["get_state", "set_state", "state_scope"],
    "aws_helper_sync.utils.json_encoder": ["MongoJSONEncoder", "mongo_json_dumps"],
    "aws_helper_sync.utils.serializer": ["serialize_mongo_types"],
    "aws_helper_sync.idempotency": [
        "idempotent", "idempotent_call", "IdempotencyConfig", "IdempotencyInProgressError",
        "IdempotencyKeyMismatchError",
    ],
}


def test_import_loads_neither_boto3_nor_pymongo():
    code = (
        "import sys, aws_helper_sync; "
        "print(sorted(m for m in ('boto3', 'botocore', 'pymongo', 'bson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("module", "names"), PUBLIC.items())
def test_public_names_importable(module, names):
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is not None


def test_top_level_lazy_names_match_their_modules():
    import aws_helper_sync
    from aws_helper_sync.repository.base import Repository

    assert aws_helper_sync.Repository is Repository
    from aws_helper_sync.idempotency import IdempotencyInProgressError, idempotent

    assert aws_helper_sync.idempotent is idempotent
    assert aws_helper_sync.IdempotencyInProgressError is IdempotencyInProgressError
    assert set(aws_helper_sync.__all__) <= set(aws_helper_sync._LAZY) | set(vars(aws_helper_sync))
    with pytest.raises(AttributeError):
        aws_helper_sync.NoSuchThing  # noqa: B018


def test_ruff_clean():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], check=False, cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
