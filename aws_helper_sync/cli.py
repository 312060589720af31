"""The ``aws-helper-sync`` command: run the entry points of an app outside AWS.

    aws-helper-sync serve --app-root examples/land_records --port 8000
    aws-helper-sync invoke parcel_report --app-root examples/land_records --state connecticut
    aws-helper-sync run-task reindex --app-root examples/land_records --state connecticut --env batch_size=500
    aws-helper-sync consume parcel_events --app-root examples/land_records --queue-url URL --until-empty
    aws-helper-sync demo

Each subcommand runs the same handler as on AWS (``api_handler``,
``lambda_handler``, ``fargate_handler``, the SQS worker), configured from the
same environment variables (``MONGODB_URI``, ``AWS_REGION``, ...). Exit codes:
0 success, 1 the work failed, 2 a user error: the command line is wrong (unknown
option, invalid or unknown state, bad JSON), the app root lacks the entry point
(the message names the app root and where it came from), or a setting is wrong
(``ConfigurationError``). User errors print one line on stderr, never a
traceback (``--log-level DEBUG``, before or after the subcommand, shows it).
Heavy modules are imported by the subcommand that needs them, so ``--help``
stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, NoReturn

PROG = "aws-helper-sync"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PING_SECONDS = 2.0  # serve's start-up ping: short, and for that ping only
MONGODB_VARIABLES = ("MONGODB_URI (or MONGO_DB_URI, or MONGO_DB_HOST with MONGO_DB_USER, "
                     "MONGO_DB_PASSWORD, MONGO_DB_NAME, MONGO_DB_OPTIONS)")

logger = logging.getLogger("aws_helper_sync.cli")


class CommandError(Exception):
    """A failure to report in one line, with the exit code to end with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- argument types: each refusal becomes "argument --x: <why>" and exit 2 ---

def _state(value: str) -> str:
    from .context.state import InvalidStateError, validate_state
    from .errors import ConfigurationError

    try:
        return validate_state(value)
    except (InvalidStateError, ConfigurationError) as exc:  # e.g. a malformed ALLOWED_STATES
        raise argparse.ArgumentTypeError(str(exc)) from None


def _state_list(value: str) -> list[str]:
    """``a,b``: each entry a valid state (blanks around commas allowed, empty entries refused)."""
    entries = [entry.strip() for entry in value.split(",")]
    if "" in entries:
        raise argparse.ArgumentTypeError(f"expected comma-separated states, got {value!r}")
    return [_state(entry) for entry in entries]


def _json_value(value: str) -> Any:
    """JSON text, or ``@path`` to read it from a file."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {value[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None


def _env_pair(value: str) -> tuple[str, str]:
    name, sep, text = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    return name.strip(), text


def _directory(value: str) -> Path:
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


def _int_between(low: int, high: int, expected: str) -> Callable[[str], int]:
    """An argparse type for a whole number in [low, high]; the error says what is expected."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
        return number

    return parse


_port = _int_between(0, 65535, "a port number from 0 to 65535")
_wait_time = _int_between(0, 20, "0 to 20 seconds (the SQS long-poll limit)")
_stop_check = _int_between(1, 20, "1 to 20 seconds")
_visibility = _int_between(0, 43200, "0 to 43200 seconds (the SQS visibility limit, 12 h)")


def _use_app_root(args: argparse.Namespace) -> Path:
    """Point ``APP_ROOT`` at ``--app-root`` when given; the app root in effect."""
    from . import settings

    if getattr(args, "app_root", None) is not None:
        os.environ["APP_ROOT"] = str(args.app_root)
    return settings.app_root().resolve()


def _app_root_origin(args: argparse.Namespace) -> str:
    """Where the app root in effect comes from, as the messages name it."""
    from . import settings

    if getattr(args, "app_root", None) is not None:
        return "--app-root"
    for name in ("APP_ROOT", "LAMBDA_TASK_ROOT"):
        if settings.env(name):
            return name
    return "the working directory"


def _app_root_note(args: argparse.Namespace) -> str:
    """``app root /abs (from X; pass --app-root ...)``: said whenever app code cannot be found."""
    from . import settings

    root, origin = settings.app_root().resolve(), _app_root_origin(args)
    if origin == "--app-root":
        return f"app root {root} from --app-root"
    return f"app root {root} from {origin}; pass --app-root DIR or set APP_ROOT"


def _not_found(args: argparse.Namespace, kind: str, name: str, expected: Path,
               exc: BaseException) -> CommandError:
    """The one-line exit-2 answer to an entry point that is missing (or lacks its class)."""
    from . import settings

    root = settings.app_root().resolve()
    if not (root / expected).is_file():
        return CommandError(f"no {kind} {name!r} under {root / expected.parts[0]}/ (expected {expected}; "
                            f"{_app_root_note(args)})", EXIT_USAGE)
    return CommandError(f"{exc} ({_app_root_note(args)})", EXIT_USAGE)


def _check_name(name: str, folder: str) -> None:
    from .entrypoint import check_entry_name

    try:
        check_entry_name(name, folder)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _check_known_state(state: str) -> None:
    """The state registry's word on ``--state`` (STATES_COLLECTION): unknown is a user error."""
    from .context.state import UnknownStateError
    from .entrypoint import known_state
    from .errors import StateRegistryUnavailableError

    try:
        known_state(state)
    except UnknownStateError as exc:
        raise CommandError(f"argument --state: {exc}", EXIT_USAGE) from None
    except StateRegistryUnavailableError as exc:
        raise CommandError(str(exc)) from None


def _user_error_kinds() -> tuple[type[BaseException], ...]:
    """Failures that are the user's to fix, answered with exit 2 rather than a traceback."""
    from .context.state import InvalidStateError
    from .errors import ConfigurationError
    from .loading import EntryPointNotFoundError

    return ConfigurationError, EntryPointNotFoundError, InvalidStateError


class _UserErrorCatcher(logging.Filter):
    """Takes the traceback out of a user error's log record, and keeps the first such error.

    The handlers log every failure with its traceback (right on AWS); here a
    missing entry point or a bad setting is the user's to fix, in one line. The
    record of the entry point's own handler logger (``drop``) is left out, as the
    command's error line says the same; others keep their line, without the
    traceback. At DEBUG every record goes through whole.
    """

    def __init__(self, drop: str | None) -> None:
        super().__init__()
        self.kinds = _user_error_kinds()
        self.drop = drop
        self.debug = logging.getLogger().isEnabledFor(logging.DEBUG)
        self.caught: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(exc, self.kinds):
            return True
        if self.caught is None:
            self.caught = exc
        if self.debug:
            return True
        if record.name == self.drop:
            return False
        record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}: {exc}", ()
        record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _catch_user_errors(drop: str | None = None) -> Iterator[_UserErrorCatcher]:
    """While the block runs, user errors logged to stderr are caught by the yielded filter."""
    catcher = _UserErrorCatcher(drop)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(catcher)
    try:
        yield catcher
    finally:
        for handler in handlers:
            handler.removeFilter(catcher)


def _user_error(args: argparse.Namespace, kind: str, name: str, expected: Path,
                exc: BaseException) -> CommandError:
    from .loading import EntryPointNotFoundError

    if isinstance(exc, EntryPointNotFoundError):
        return _not_found(args, kind, name, expected, exc)
    return CommandError(str(exc) or type(exc).__name__, EXIT_USAGE)


# --- subcommands ---

def cmd_serve(args: argparse.Namespace) -> int:
    """Serve ``<app root>/api/`` and the Lambda Invoke API of ``lambda/`` over HTTP until Ctrl-C or SIGTERM."""
    import signal

    from .api.local_server import serve_api

    root = _use_app_root(args)
    if not (root / "api").is_dir() and not (root / "lambda").is_dir():
        raise CommandError(f"{root} has no api/ folder (nor lambda/): {_app_root_note(args)} (the folder "
                           "that holds api/ or lambda/)", EXIT_USAGE)
    try:
        server = serve_api(root, args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("listening on %s: this development server is not meant to be exposed", args.host)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    mongodb_warning = _mongodb_warning()
    if mongodb_warning:  # routes that do not touch the database still work: warn, serve anyway
        print(f"WARNING: {mongodb_warning}", file=sys.stderr, flush=True)
    print(f"Serving {root} at {server.url} (development only; Ctrl-C to stop)", flush=True)
    from .context.registry import unguarded_warning

    warning = unguarded_warning()
    if warning:  # the registry is the line between "any state" and "our states": say which one runs
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    try:
        _print_lambda_endpoint(root, server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return EXIT_OK


def _mongodb_hosts(uri: str) -> str:
    """The hosts of a MongoDB URI, without scheme, credentials, database or options."""
    rest = uri.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1] or uri.split("://", 1)[0]


def _mongodb_warning() -> str | None:
    """Why the process's MongoDB is not usable (not configured, or no answer to one ping), else None.

    The ping gets PING_SECONDS through ``pymongo.timeout``, so the client keeps
    its own server-selection timeout for the requests served afterwards.
    """
    from . import settings
    from .database.mongo_manager import MongoManager, resolve_connection_string
    from .errors import ConfigurationError

    try:
        uri = resolve_connection_string()
    except ConfigurationError:
        return (f"MongoDB is not configured: set {MONGODB_VARIABLES}; routes that use the database "
                "will fail (answer 500) until it is")
    source = next((name for name in ("MONGODB_URI", "MONGO_DB_URI") if settings.env(name)), "MONGO_DB_HOST")
    try:
        import pymongo

        with pymongo.timeout(PING_SECONDS):
            MongoManager.get_client().admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - any failure is only a warning: serve starts anyway
        reason = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0][:200]
        return (f"MongoDB at {_mongodb_hosts(uri)} (from {source}) did not answer a ping within "
                f"{PING_SECONDS:g} s ({type(exc).__name__}: {reason}); routes that use the database will "
                f"fail until it does: check {MONGODB_VARIABLES}")
    return None


def _print_lambda_endpoint(root: Path, url: str) -> None:
    """Name the standalone Lambdas that ``serve`` answers the Invoke API for, and how to reach them."""
    from .lambda_standalone.local_invoke import lambda_folders

    lambdas = lambda_folders(root)
    if lambdas:
        print(f"Lambda Invoke API for {', '.join(lambdas)}: AWS_ENDPOINT_URL_LAMBDA={url}", flush=True)


def cmd_invoke(args: argparse.Namespace) -> int:
    """Run ``lambda/<name>/main.py`` once and print its result (exit 0 only when success is true)."""
    from .lambda_standalone.handler import lambda_handler

    _use_app_root(args)
    _check_name(args.name, "lambda")
    _check_known_state(args.state)
    with _catch_user_errors("aws_helper_sync.lambda") as caught:
        result = lambda_handler(args.name)({"constitution-state": args.state, "data": args.data}, None)
    if caught.caught is not None and result.get("success") is not True:
        raise _user_error(args, "lambda", args.name, Path("lambda", args.name, "main.py"), caught.caught)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return EXIT_OK if result.get("success") is True else EXIT_FAILED


def cmd_run_task(args: argparse.Namespace) -> int:
    """Run ``task/<name>/task.py`` here, with the environment ECS would give its container."""
    from .fargate.executor import STATE_ENV, build_environment
    from .fargate.handler import fargate_handler

    _use_app_root(args)
    _check_name(args.name, "task")
    _check_known_state(args.state)
    envs = dict(args.env or [])
    given = {k.upper(): v for k, v in envs.items()}.get(STATE_ENV)
    if given is not None and given != args.state:
        raise CommandError(f"--env {STATE_ENV}={given} contradicts --state {args.state}", EXIT_USAGE)
    envs[STATE_ENV] = args.state
    try:
        environment = build_environment(args.name, envs)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    os.environ.update(environment)
    with _catch_user_errors("aws_helper_sync.fargate") as caught:
        exit_code = fargate_handler(args.name)
    if caught.caught is not None and exit_code != EXIT_OK:
        raise _user_error(args, "task", args.name, Path("task", args.name, "task.py"), caught.caught)
    return exit_code


def cmd_consume(args: argparse.Namespace) -> int:
    """Run the long-polling SQS worker; exit 1 if a message failed or could not be deleted."""
    from dataclasses import asdict

    from .errors import ConfigurationError
    from .loading import EntryPointNotFoundError
    from .sqs.worker import SQSWorker

    _use_app_root(args)
    if args.queue_url is not None and not args.queue_url.strip():
        raise CommandError("argument --queue-url: empty (is the variable you passed, e.g. $QUEUE_URL, set?); "
                           "give the queue's URL, or leave --queue-url out to use the consumer's "
                           "get_queue_url()", EXIT_USAGE)
    try:
        worker = SQSWorker(
            args.name,
            args.queue_url,
            wait_time_seconds=args.wait_time,
            visibility_timeout=args.visibility_timeout,
            until_empty=args.until_empty,
            heartbeat=args.heartbeat,
            retry_delay="auto" if args.retry_delay is None else args.retry_delay,
            stop_check_seconds=args.stop_check,
        )
    except EntryPointNotFoundError as exc:
        raise CommandError(f"{exc} ({_app_root_note(args)})", EXIT_USAGE) from None
    except (ValueError, ConfigurationError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    with _catch_user_errors() as caught:
        stats = worker.run()
    print(json.dumps(asdict(stats)))
    if caught.caught is not None and stats.failed:  # e.g. no MONGODB_URI: every record would fail alike
        raise CommandError(f"{caught.caught} ({stats.failed} message(s) failed, left in the queue for "
                           "redelivery)", EXIT_USAGE)
    return EXIT_OK if stats.failed == 0 and stats.delete_failed == 0 else EXIT_FAILED


def cmd_sync_indexes(args: argparse.Namespace) -> int:
    """Compare the app's declared indexes with each state's database; create or prune on request."""
    from .context.state import InvalidStateError
    from .errors import ConfigurationError, StateRegistryUnavailableError
    from .repository.sync import (
        IndexSyncError,
        RepositoryDiscoveryError,
        discover_repositories,
        sync_indexes,
    )

    root = _use_app_root(args)
    try:
        repositories = discover_repositories(args.module or ())
        if not repositories:
            raise IndexSyncError(f"no Repository subclass found under {root} ({_app_root_note(args)}; "
                                 "the folder that holds api/, consumer/... and your modules) or pass --module")
        report = sync_indexes(repositories, args.states, registry=args.registry, apply=args.apply,
                              prune=args.prune)
    except (IndexSyncError, InvalidStateError, ConfigurationError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except (RepositoryDiscoveryError, StateRegistryUnavailableError) as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table(), flush=True)
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the example service end to end on local SecantusDB and moto."""
    from . import demo

    return demo.main(app_root=args.app_root, json_output=args.json)


# --- parser ---

_ENVIRONMENT = """\
environment:
  MONGODB_URI (or MONGO_DB_URI, MONGO_DB_HOST...)   the MongoDB to use
  AWS_REGION, AWS_ENDPOINT_URL                     AWS region; moto/LocalStack endpoint
  APP_ROOT                                         default for --app-root (else the cwd)

exit codes: 0 success, 1 the work failed, 2 a user error (the command line, an entry point
missing under the app root, an unknown state, a setting such as MONGODB_URI), in one line
"""


def _text(paragraph: str) -> str:
    """Descriptions are wrapped here because the raw formatter keeps the examples' layout."""
    import textwrap

    return textwrap.fill(paragraph, 78)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line on stderr (exit 2) that points at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
_LOG_LEVEL_HELP = "level of the log messages on stderr (default: INFO; WARNING for demo)"


def _add_log_level(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` after the subcommand too; its own dest, so it is not reset by the subparser."""
    parser.add_argument("--log-level", dest="subcommand_log_level", type=str.upper, choices=_LOG_LEVELS,
                        help=_LOG_LEVEL_HELP + "; also accepted before the subcommand, the later wins")


def _add_app_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-root", type=_directory, metavar="DIR",
                        help="folder holding api/, lambda/, consumer/, task/ (default: APP_ROOT, else the cwd)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``aws-helper-sync`` (every subcommand has ``--help``)."""
    from . import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG, formatter_class=formatter, epilog=_ENVIRONMENT,
        description=_text("Run aws-helper-sync entry points locally: the API over HTTP, standalone "
                    "Lambdas, Fargate tasks, SQS workers, and a self-contained demo."),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", type=str.upper, choices=_LOG_LEVELS, help=_LOG_LEVEL_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve", formatter_class=formatter,
        help="serve the API routes and the Lambda Invoke API over local HTTP (development)",
        description=_text("Serve the file-routed API (<app root>/api/) over HTTP. Each request becomes an "
                    "API Gateway HTTP API (2.0) event for api_handler; its response becomes the HTTP "
                    "response. For development only: binds 127.0.0.1 unless told otherwise.") + "\n\n"
                    + _text("It also answers the Lambda Invoke API, as sam local start-lambda does: POST "
                    "/2015-03-31/functions/NAME/invocations runs lambda_handler(NAME) for <app root>/lambda/"
                    "NAME/main.py (NAME may use - for _). RequestResponse returns the handler's JSON result "
                    "(200; X-Amz-Function-Error: Unhandled when the function raised), Event returns 202 and "
                    "runs it in the background, an unknown function is a 404 ResourceNotFoundException. "
                    "Point boto3 or LambdaInvoker at it with AWS_ENDPOINT_URL_LAMBDA=http://HOST:PORT."),
        epilog="example:\n  aws-helper-sync serve --app-root examples/land_records --port 8000\n"
               "  curl -H 'constitution-state: connecticut' http://127.0.0.1:8000/parcels\n"
               "  AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:8000 aws lambda invoke --function-name parcel-report \\\n"
               "    --cli-binary-format raw-in-base64-out \\\n"
               "    --payload '{\"constitution-state\": \"connecticut\", \"data\": {}}' report.json",
    )
    _add_app_root(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    _add_log_level(serve)
    serve.set_defaults(func=cmd_serve)

    invoke = sub.add_parser(
        "invoke", formatter_class=formatter, help="invoke a standalone Lambda locally",
        description=_text("Run <app root>/lambda/NAME/main.py through lambda_handler(NAME) and print its "
                    "JSON result. Exit 0 when the result has success: true, else 1 (2, in one line, for a user "
                    "error: no such Lambda under the app root, a ConfigurationError...)."),
        epilog="example:\n  aws-helper-sync invoke parcel_report --app-root examples/land_records --state connecticut "
               "--data '{\"county\": \"Hartford\"}'",
    )
    invoke.add_argument("name", metavar="NAME", help="the Lambda's folder name under lambda/")
    invoke.add_argument("--state", type=_state, required=True, help="the constitution-state of the invocation")
    invoke.add_argument("--data", type=_json_value, default={}, metavar="JSON",
                        help="the event's data as JSON, or @FILE to read it from a file (default: {})")
    _add_app_root(invoke)
    _add_log_level(invoke)
    invoke.set_defaults(func=cmd_invoke)

    run_task = sub.add_parser(
        "run-task", formatter_class=formatter, help="run a Fargate task locally",
        description=_text("Run <app root>/task/NAME/task.py through fargate_handler(NAME) with the "
                    "environment FargateExecutor would give its container (names upper-cased, "
                    "CONSTITUTION_STATE and TASK_NAME set). Exit code as fargate_handler: 0 or 1."),
        epilog="example:\n  aws-helper-sync run-task reindex --app-root examples/land_records --state connecticut "
               "--env batch_size=500",
    )
    run_task.add_argument("name", metavar="NAME", help="the task's folder name under task/")
    run_task.add_argument("--state", type=_state, required=True, help="the constitution-state of the task")
    run_task.add_argument("--env", type=_env_pair, action="append", metavar="NAME=VALUE",
                          help="an environment variable for the task (repeatable)")
    _add_app_root(run_task)
    _add_log_level(run_task)
    run_task.set_defaults(func=cmd_run_task)

    consume = sub.add_parser(
        "consume", formatter_class=formatter, help="run an SQS consumer as a long-polling worker",
        description=_text("Long-poll a queue and feed its messages to <app root>/consumer/NAME.py. "
                    "Successes are deleted, failures stay for redelivery. Each message's state comes "
                    "from the message itself. While a batch is processed its messages are kept "
                    "invisible (a heartbeat extends their visibility every half timeout); failed ones are "
                    "released for redelivery right away (--retry-delay). Stops on SIGTERM/SIGINT after "
                    "the batch in flight (within about --stop-check seconds when idle), or with "
                    "--until-empty when a receive finds the queue empty. Prints the worker's counts as "
                    "JSON (extended/extend_failed: heartbeat extensions); exit 1 if any message failed "
                    "or could not be deleted."),
        epilog="example:\n  aws-helper-sync consume parcel_events --app-root examples/land_records --queue-url "
               "https://sqs.us-east-2.amazonaws.com/123456789012/parcel-events --until-empty",
    )
    consume.add_argument("name", metavar="NAME", help="the consumer's name (consumer/NAME.py)")
    consume.add_argument("--queue-url", metavar="URL",
                         help="the queue (default: the consumer's get_queue_url(), from AWS_REGION, "
                              "AWS_ACCOUNT_ID, SERVICE_NAME, QUEUE_NAME, ENV)")
    consume.add_argument("--until-empty", action="store_true", help="stop when the queue is empty (cron)")
    consume.add_argument("--wait-time", type=_wait_time, default=20, metavar="SECONDS",
                         help="long-poll wait per receive, 0-20, capped by --stop-check (default: 20)")
    consume.add_argument("--stop-check", type=_stop_check, default=1, metavar="SECONDS",
                         help="longest wait of one receive, so an idle worker sees a stop request "
                              "within about this long; more means fewer (billed) empty receives (default: 1)")
    consume.add_argument("--visibility-timeout", type=_visibility, metavar="SECONDS",
                         help="visibility timeout of received messages, kept up by the heartbeat "
                              "(default: the queue's, read with GetQueueAttributes)")
    consume.add_argument("--no-heartbeat", dest="heartbeat", action="store_false",
                         help="do not extend the visibility of messages being processed (a batch that "
                              "outlasts the timeout is then delivered again, to this or another worker)")
    consume.add_argument("--retry-delay", type=_visibility, metavar="SECONDS",
                         help="redeliver a failed message after this long (default: 0, right away; with "
                              "--until-empty failures wait out their visibility timeout)")
    _add_app_root(consume)
    _add_log_level(consume)
    consume.set_defaults(func=cmd_consume)

    sync = sub.add_parser(
        "sync-indexes", formatter_class=formatter, help="create the declared indexes in every state's database",
        description=_text("Import the app's Repository classes (every .py under api/, consumer/, lambda/, "
                    "task/ and the app root's top-level modules and packages, or --module), then compare "
                    "their declared indexes with each state's database (fixed database_key: that database "
                    "once). Dry run by default: lists what is to create and creates nothing. --apply creates "
                    "the missing indexes; --prune drops indexes no Repository declares (never _id_, never "
                    "in a collection no Repository names). An existing index with the same key or name but "
                    "other options is a conflict: reported, never changed. Exit 1 if any state has a "
                    "conflict or an error, or an app module fails to import."),
        epilog="examples:\n  aws-helper-sync sync-indexes --app-root examples/land_records --states connecticut,ohio\n"
               "  aws-helper-sync sync-indexes --app-root examples/land_records --registry --apply",
    )
    _add_app_root(sync)
    states = sync.add_mutually_exclusive_group()
    states.add_argument("--states", type=_state_list, metavar="A,B",
                        help="comma-separated states whose databases to sync (each must be a known state)")
    states.add_argument("--registry", action="store_true",
                        help="every active state of the registry (STATES_COLLECTION, else ALLOWED_STATES); "
                             "the default when one is configured")
    sync.add_argument("--module", action="append", metavar="NAME",
                      help="import this module (import name, or a .py path under the app root) instead of "
                           "discovering them (repeatable)")
    sync.add_argument("--apply", action="store_true", help="create the missing indexes (default: dry run)")
    sync.add_argument("--prune", action="store_true",
                      help="drop indexes no Repository declares (with --apply; else only shown)")
    sync.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    _add_log_level(sync)
    sync.set_defaults(func=cmd_sync_indexes)

    demo = sub.add_parser(
        "demo", formatter_class=formatter, help="run the example service end to end, locally",
        description=_text("Start SecantusDB and moto on 127.0.0.1, serve the land-records example over "
                    "HTTP, post parcels for two states, drain the SNS->SQS events with the batch "
                    "consumer, invoke the report Lambda, launch and run the Fargate task, print a "
                    "summary and stop everything. Needs the demo extra: pip install -e '.[demo]'."),
    )
    demo.add_argument("--app-root", type=_directory, metavar="DIR",
                      help="the example app (default: examples/land_records of the source tree)")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    _add_log_level(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def _configure_logging(level: str) -> None:
    from .context.log_filter import install_state_log_filter

    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s [%(constitution_state)s] %(name)s: %(message)s",
    )
    install_state_log_filter()
    if level != "DEBUG":  # credential lookups and connection pools are noise at INFO
        for name in ("botocore", "boto3", "urllib3", "werkzeug"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aws-helper-sync`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.subcommand_log_level or args.log_level  # after the subcommand is the later one
    _configure_logging(level or ("WARNING" if args.command == "demo" else "INFO"))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CommandError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        logger.debug("%s failed", args.command, exc_info=True)
        print(f"{PROG} {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, _user_error_kinds()) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
