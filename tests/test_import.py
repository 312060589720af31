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


# --- cold start (issue 15): the handler modules import only what an import needs ---

# Loaded by neither handler import; each is imported on first use instead (see _lazy.deferred).
NOT_AT_IMPORT = (
    "pymongo", "bson", "boto3", "botocore",  # the drivers: on first use
    "http.client", "email", "ssl", "socket",  # http.client for a reason-phrase table, once
    "logging", "concurrent.futures", "uuid", "urllib.parse", "datetime", "decimal", "hmac",
    "base64", "pathlib", "platform", "tempfile", "certifi",
)
# dataclasses imports inspect (about 10 ms of a cold start): no @dataclass on the handlers' import path.
NO_DATACLASSES = ("dataclasses", "inspect")


def modules_loaded_by(statement: str) -> set[str]:
    """The modules ``statement`` adds to a bare interpreter (-S: no site hooks preloading any)."""
    from pathlib import Path

    code = (
        "import sys; before = set(sys.modules)\n"
        f"{statement}\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, env=env)
    return set(out.stdout.split())


def _offenders(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


@pytest.mark.parametrize("handler", ["aws_helper_sync.api.handler", "aws_helper_sync.sqs.handler"])
def test_importing_a_handler_loads_no_driver_nor_rare_path_module(handler):
    loaded = modules_loaded_by(f"import {handler}")
    assert handler in loaded  # the probe really imported it
    assert _offenders(loaded, NOT_AT_IMPORT) == []


@pytest.mark.parametrize("handler", ["aws_helper_sync.api.handler", "aws_helper_sync.sqs.handler"])
def test_importing_a_handler_loads_no_dataclasses_nor_inspect(handler):
    assert _offenders(modules_loaded_by(f"import {handler}"), NO_DATACLASSES) == []


def test_a_deferred_import_replaces_itself_on_first_use_from_many_threads():
    import threading
    import types

    from aws_helper_sync._lazy import deferred, deferred_logger

    owner = types.ModuleType("deferred_probe")
    sys.modules[owner.__name__] = owner
    try:
        owner.colorsys = deferred(owner.__name__, "colorsys", "colorsys")
        owner.hls = deferred(owner.__name__, "hls", "colorsys", "rgb_to_hls")
        owner.log = deferred_logger(owner.__name__, "log", "aws_helper_sync.deferred_probe")
        assert "deferred" in repr(owner.colorsys)
        barrier, seen = threading.Barrier(16), []

        def use() -> None:
            barrier.wait()
            seen.append((owner.colorsys.rgb_to_hls(1.0, 0.0, 0.0), owner.hls(1.0, 0.0, 0.0), owner.log.name))

        threads = [threading.Thread(target=use) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        import colorsys
        import logging

        assert seen == [((0.0, 0.5, 1.0), (0.0, 0.5, 1.0), "aws_helper_sync.deferred_probe")] * 16
        # the owner's globals now hold the real objects: later uses skip the stand-in
        assert owner.colorsys is colorsys and owner.hls is colorsys.rgb_to_hls
        assert owner.log is logging.getLogger("aws_helper_sync.deferred_probe")
    finally:
        del sys.modules[owner.__name__]


def test_the_alb_reason_phrases_are_http_clients():
    from http.client import responses

    from aws_helper_sync.api._status import PHRASES

    assert responses == PHRASES


def test_patching_through_a_deferred_name_patches_the_real_module(monkeypatch):
    import types

    from aws_helper_sync._lazy import deferred

    owner = types.ModuleType("deferred_patch_probe")
    sys.modules[owner.__name__] = owner
    try:
        owner.colorsys = deferred(owner.__name__, "colorsys", "colorsys")
        proxy = owner.colorsys
        monkeypatch.setattr(proxy, "rgb_to_hls", lambda *rgb: "patched")
        import colorsys

        assert colorsys.rgb_to_hls(1, 0, 0) == "patched" and owner.colorsys is colorsys
        monkeypatch.undo()
        assert colorsys.rgb_to_hls(1.0, 0.0, 0.0) == (0.0, 0.5, 1.0)
    finally:
        del sys.modules[owner.__name__]
