"""Test fixtures: a private redis-server on a free port (never the shared one on 6379)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import FakeZendesk
from tests.support import SECRET, Pipeline, pipeline
from tests.support_freshdesk import new_desk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server process; restartable so tests can show state survives a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; .ci/run installs it (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        pytest.fail("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        """Stop gracefully (AOF flushed) and start again on the same port and directory."""
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="escalator-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        yield server
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    # The server is private to this test session, so flushing it between tests is safe.
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def fake_freshdesk() -> Iterator[FakeFreshdesk]:
    """A fake Freshdesk configured as tests.support_freshdesk's tenant expects, running."""
    fake = new_desk()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    """A fake Zendesk as an admin's account starts out (no webhook secret of ours yet): for install tests."""
    fake = FakeZendesk()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def desk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk(webhook_secret=SECRET, webhook_url="http://unused.invalid/")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def pipe(redis_url: str, desk: FakeZendesk) -> Iterator[Pipeline]:
    yield from pipeline(redis_url, desk)
