"""A local Redis Cluster for the tests: three masters (`redis-server --cluster-enabled yes`) on free ports,
joined with `redis-cli --cluster create`, private to the test session (never the shared server on 6379)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.common import cluster_port

MASTERS = 3


class LocalCluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [cluster_port() for _ in range(MASTERS)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            pytest.fail("redis-server and redis-cli are needed; .ci/run installs them (apt-get install redis-server)")
        for port in self.ports:
            node = self.directory / str(port)
            node.mkdir()
            options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(node), "--cluster-enabled", "yes",
                       "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000", "--appendonly", "no",
                       "--save", "", "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
            quiet = subprocess.DEVNULL
            self.processes.append(subprocess.Popen([server, *options], stdout=quiet, stderr=quiet))
        for port in self.ports:
            _wait(lambda port=port: redis.Redis(port=port).ping(), "a cluster node to start")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        for port in self.ports:
            _wait(lambda port=port: redis.Redis(port=port).cluster("info")["cluster_state"] == "ok", "cluster ok")

    def flush(self) -> None:
        for port in self.ports:
            redis.Redis(port=port).flushall()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)


def _wait(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    with tempfile.TemporaryDirectory(prefix="escalator-cluster-") as directory:
        cluster = LocalCluster(Path(directory))
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster: LocalCluster) -> str:
    redis_cluster.flush()  # private to this session: safe to empty between tests
    return redis_cluster.url
