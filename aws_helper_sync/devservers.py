"""Local stand-ins for MongoDB and AWS, for tests, the demo and development.

SecantusDB (a MongoDB wire-protocol server) runs as a separate process (it is
GPL-2.0 and never imported by the library); moto runs in-process. Both bind
127.0.0.1 only. Installed with the ``demo`` or ``test`` extra.

    with SecantusServer() as mongo, MotoServer() as aws:
        os.environ.update(MONGODB_URI=mongo.uri, AWS_ENDPOINT_URL=aws.endpoint_url)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer
    from typing_extensions import Self


_LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")


def _secantus_command() -> list[str]:
    exe = shutil.which("secantusd-py")
    if exe is None:
        candidate = Path(sys.executable).with_name("secantusd-py")
        if candidate.exists():
            exe = str(candidate)
    if exe is None:
        raise RuntimeError(
            "secantusd-py not found: install the test or demo extra "
            "(pip install -e '.[test]') or set MONGODB_URI to a running MongoDB"
        )
    return [exe]


class SecantusServer:
    """A SecantusDB process on a free port of 127.0.0.1 with its own data dir."""

    def __init__(
        self, data_dir: str | None = None, port: int = 0, cache_size: str = "256M",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``extra_args`` go to secantusd-py as given (``("--enable-test-commands",)`` for failpoints)."""
        self._own_dir = data_dir is None
        self.extra_args = tuple(extra_args)
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="secantus-")
        self.port = port
        self.cache_size = cache_size
        self.process: subprocess.Popen[bytes] | None = None
        # Next to the data dir, not in it; built without "<dir>/.." so that a data
        # dir that does not exist yet (secantusd-py creates it) is fine too.
        data_dir_path = os.path.normpath(os.path.abspath(self.data_dir))
        self._log_path = f"{data_dir_path}.log"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?serverSelectionTimeoutMS=5000"

    def start(self, timeout: float = 60.0) -> Self:
        log = open(self._log_path, "wb")  # noqa: SIM115 - owned by the child's lifetime
        self.process = subprocess.Popen(
            [*_secantus_command(), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", self.data_dir, "--cache-size", self.cache_size, *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"secantusd-py exited early:\n{self.log_text()}")
            if self.port == 0:
                match = _LISTENING.search(self.log_text())
                if match:
                    self.port = int(match.group(2))
            if self.port and self._ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"secantusd-py did not answer within {timeout}s:\n{self.log_text()}")

    def _ping(self) -> bool:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{self.port}", serverSelectionTimeoutMS=200
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def log_text(self) -> str:
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL, keeping the data dir and port: for outage tests, then ``start()`` again."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            try:
                os.remove(self._log_path)
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 (never 0.0.0.0)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        return self

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
