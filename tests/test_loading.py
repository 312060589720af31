"""The one class loader, as the API, Lambda and Fargate entry points use it."""

from __future__ import annotations

import logging
import textwrap
import threading

import pytest

from aws_helper_sync import API, FargateTask, Lambda, fargate_handler, lambda_handler
from aws_helper_sync.api.router import resolve_route
from aws_helper_sync.entrypoint import load_entry_class
from aws_helper_sync.loading import (
    AsyncHookError,
    EntryPointNotFoundError,
    GeneratorHookError,
    check_sync_hooks,
    clear_cache,
    load_class,
    to_pascal_case,
    to_snake_case,
)


@pytest.fixture
def app(tmp_path, monkeypatch):
    """An empty app root; ``app.write("api/x/list.py", source)`` adds a file."""
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    clear_cache()

    class App:
        root = tmp_path

        @staticmethod
        def write(relative: str, source: str):
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
            return path

    yield App
    clear_cache()


@pytest.mark.parametrize(("name", "pascal", "snake"), [
    ("land_records", "LandRecords", "land_records"),
    ("land-records", "LandRecords", "land_records"),
    ("hello", "Hello", "hello"),
    ("LandRecords", "LandRecords", "land_records"),
])
def test_name_conventions(name, pascal, snake):
    assert to_pascal_case(name) == pascal and to_snake_case(name) == snake


def test_single_subclass_is_found_and_imported_helpers_are_ignored(app):
    app.write("api/parcels/list.py", """
        from aws_helper_sync import API
        from aws_helper_sync.api.base import API as SameBase

        class ParcelsList(API):
            def process(self):
                return []
    """)
    cls, route = resolve_route("GET", ("parcels",))
    assert cls.__name__ == "ParcelsList" and issubclass(cls, API) and route.file == "parcels/list.py"


def test_two_candidate_classes_are_refused_with_the_relative_file_name(app):
    app.write("api/parcels/list.py", """
        from aws_helper_sync import API

        class A(API):
            pass

        class B(API):
            pass
    """)
    with pytest.raises(EntryPointNotFoundError) as raised:
        resolve_route("GET", ("parcels",))
    message = str(raised.value)
    assert "api/parcels/list.py" in message and "A, B" in message and str(app.root) not in message


def test_lambda_and_task_classes_are_chosen_by_name(app):
    app.write("lambda/land-records/main.py", """
        from aws_helper_sync import Lambda

        class Helper(Lambda):
            pass

        class LandRecordsLambda(Lambda):
            pass
    """)
    assert load_entry_class(Lambda, "lambda", "land-records", "main.py", "Lambda").__name__ == "LandRecordsLambda"
    app.write("task/reindex/task.py", """
        from aws_helper_sync import FargateTask

        class SomethingElse(FargateTask):
            pass
    """)
    with pytest.raises(EntryPointNotFoundError, match=r"task/reindex/task.py must define class ReindexTask"):
        load_entry_class(FargateTask, "task", "reindex", "task.py", "Task")


def test_async_hooks_are_refused_by_every_entry_point(app, caplog, monkeypatch):
    app.write("api/legacy/list.py", """
        from aws_helper_sync import API

        class LegacyList(API):
            async def validate(self):
                pass

            def process(self):
                return {}
    """)
    app.write("lambda/legacy/main.py", """
        from aws_helper_sync import Lambda

        class LegacyLambda(Lambda):
            async def process(self):
                return 1
    """)
    app.write("task/legacy/task.py", """
        from aws_helper_sync import FargateTask

        class LegacyTask(FargateTask):
            async def execute(self):
                return 1
    """)
    with pytest.raises(AsyncHookError, match="synchronous"):
        resolve_route("GET", ("legacy",))
    result = lambda_handler("legacy")({"constitution-state": "ohio"}, None)
    assert result["error_type"] == "AsyncHookError" and "async def" in result["error"]
    monkeypatch.setenv("CONSTITUTION_STATE", "ohio")
    caplog.set_level(logging.ERROR)
    assert fargate_handler("legacy") == 1
    assert "LegacyTask.execute is defined with 'async def'" in caplog.text


def test_generator_hooks_are_refused_by_every_entry_point(app, caplog, monkeypatch):
    """A stray ``yield`` turns a hook into a generator function: calling it would not run its body."""
    app.write("api/stray/list.py", """
        from aws_helper_sync import API

        class StrayList(API):
            def process(self):
                yield {"items": []}
    """)
    app.write("lambda/stray/main.py", """
        from aws_helper_sync import Lambda

        class StrayLambda(Lambda):
            def validate(self):
                yield None

            def process(self):
                return 1
    """)
    app.write("task/stray/task.py", """
        from aws_helper_sync import FargateTask

        class StrayTask(FargateTask):
            def execute(self):
                yield 1
    """)
    with pytest.raises(GeneratorHookError, match=r"StrayList\.process is a generator function"):
        resolve_route("GET", ("stray",))
    result = lambda_handler("stray")({"constitution-state": "ohio"}, None)
    assert result["error_type"] == "GeneratorHookError" and "'yield'" in result["error"]
    monkeypatch.setenv("CONSTITUTION_STATE", "ohio")
    caplog.set_level(logging.ERROR)
    assert fargate_handler("stray") == 1
    assert "StrayTask.execute is a generator function" in caplog.text


@pytest.mark.parametrize("hook", ["process", "validate", "execute", "process_record", "process_batch"])
def test_every_sync_hook_is_checked_for_generators(hook):
    def generator(self, *args):
        yield

    with pytest.raises(GeneratorHookError, match=f"Hooked.{hook} is a generator function"):
        check_sync_hooks(type("Hooked", (), {hook: generator}))
    check_sync_hooks(type("Plain", (), {hook: lambda self, *args: None}))  # plain functions pass


def test_concurrent_first_loads_import_the_file_once(app):
    path = app.write("api/slow/list.py", """
        import time
        from pathlib import Path

        with open(Path(__file__).with_name("imports.log"), "a") as log:
            log.write("imported\\n")
        time.sleep(0.05)  # widen the window in which other threads ask for it too

        from aws_helper_sync import API

        class SlowList(API):
            def process(self):
                return {}
    """)
    barrier = threading.Barrier(16)
    found = []

    def load():
        barrier.wait()
        found.append(resolve_route("GET", ("slow",))[0])

    threads = [threading.Thread(target=load) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(found) == 16 and len(set(found)) == 1
    assert path.with_name("imports.log").read_text().splitlines() == ["imported"]


def test_cache_serves_warm_calls_and_clear_cache_reloads(app):
    path = app.write("lambda/version/main.py", """
        from aws_helper_sync import Lambda

        class VersionLambda(Lambda):
            version = 1
    """)
    first = load_class(path, Lambda, "VersionLambda")
    path.write_text(path.read_text().replace("version = 1", "version = 2"))
    assert load_class(path, Lambda, "VersionLambda") is first and first.version == 1
    clear_cache()
    assert load_class(path, Lambda, "VersionLambda").version == 2


def test_app_files_can_import_siblings_from_the_app_root(app):
    app.write("shared_rules_for_loading_test.py", "LIMIT = 3\n")
    app.write("lambda/limits/main.py", """
        from shared_rules_for_loading_test import LIMIT

        from aws_helper_sync import Lambda

        class LimitsLambda(Lambda):
            def process(self):
                return LIMIT
    """)
    assert lambda_handler("limits")({"constitution-state": "ohio"}, None) == {"success": True, "data": 3}


def test_a_file_that_fails_to_import_is_retried_on_the_next_call(app):
    path = app.write("lambda/flaky/main.py", "raise RuntimeError('not yet')\n")
    assert lambda_handler("flaky")({"constitution-state": "ohio"}, None)["error"] == "not yet"
    path.write_text("from aws_helper_sync import Lambda\n\n\nclass FlakyLambda(Lambda):\n"
                    "    def process(self):\n        return 'ok'\n")
    assert lambda_handler("flaky")({"constitution-state": "ohio"}, None) == {"success": True, "data": "ok"}


def test_entry_point_modules_import_without_boto3_or_pymongo():
    """Lambda cold starts pay for every import: handlers load boto3/pymongo on first use only."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from aws_helper_sync.api.handler import api_handler\n"
        "from aws_helper_sync.lambda_standalone.handler import lambda_handler\n"
        "from aws_helper_sync.fargate.handler import fargate_handler\n"
        "from aws_helper_sync.fargate.executor import FargateExecutor\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'pymongo', 'bson') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_route_folders_a_b_and_a_dash_b_keep_their_own_modules(app):
    """``a-b`` and ``a_b`` once shared one sys.modules name: the second import replaced the
    first, and typing.get_type_hints on the first file's class looked in the wrong module."""
    import sys
    import typing

    for folder, note in (("land-records", "Dash"), ("land_records", "Under"), ("land.records", "Dot")):
        app.write(f"api/{folder}/list.py", f"""
            from __future__ import annotations

            from aws_helper_sync import API

            class Note{note}:
                text = "{folder}"

            class Records{note}List(API):
                note: Note{note}

                def process(self):
                    return self.note.text
        """)
    loaded = [resolve_route("GET", ("land-records",))[0], resolve_route("GET", ("land_records",))[0],
              load_class(app.root / "api" / "land.records" / "list.py", API)]
    names = [cls.__module__ for cls in loaded]
    assert len(set(names)) == 3
    for cls in loaded:
        assert sys.modules[cls.__module__].__dict__[cls.__name__] is cls
        hint = typing.get_type_hints(cls)["note"]
        assert hint.__module__ == cls.__module__ and hint.text in ("land-records", "land_records", "land.records")
