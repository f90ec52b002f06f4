"""What every benchmark needs: free ports and a private redis-server with production settings."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A private redis-server (AOF everysec, noeviction, as in production); never the shared 6379."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="escalator-bench-") as directory:
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--maxmemory-policy", "noeviction", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client = redis.Redis(port=port)
            _ping(client)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=30)


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, and below 65536."""
    while True:
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@contextmanager
def private_cluster(masters: int = 3) -> Iterator[str]:
    """A private Redis Cluster of `masters` masters (no replicas), as `redis+cluster://` seed nodes."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        sys.exit("redis-server and redis-cli are not installed (apt-get install redis-server)")
    ports = [cluster_port() for _ in range(masters)]
    with tempfile.TemporaryDirectory(prefix="escalator-bench-cluster-") as directory:
        processes = []
        try:
            for port in ports:
                node = f"{directory}/{port}"
                Path(node).mkdir(parents=True, exist_ok=True)
                processes.append(subprocess.Popen(
                    [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", node, "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf", "--appendonly", "yes", "--appendfsync", "everysec",
                     "--save", "", "--maxmemory-policy", "noeviction", "--daemonize", "no", "--loglevel", "warning"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip
            for port in ports:
                _ping(redis.Redis(port=port))
            nodes = [f"127.0.0.1:{port}" for port in ports]
            subprocess.run([cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            for port in ports:
                for _ in range(500):
                    if redis.Redis(port=port).cluster("info")["cluster_state"] == "ok":
                        break
                    time.sleep(0.02)
            yield "redis+cluster://" + ",".join(nodes)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def _ping(client: redis.Redis) -> None:
    for _ in range(250):
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.02)
    client.ping()
