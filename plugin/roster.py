"""The workers that serve without RQ (on a Redis Cluster, plugin.dispatch), and their heartbeats.

RQ keeps a registry of its workers; on a cluster RQ does not run, so each hand-over worker records itself in
one hash (`esc:workers`) every few seconds. /metrics, the dashboard and the no-worker alert read it there.
"""

from __future__ import annotations

import os
import socket
import time

import redis

from escalator.plugin import keys

BEAT_SECONDS = 5.0
"""How often a hand-over worker records its heartbeat."""
GONE_SECONDS = 30.0
"""A worker whose heartbeat is older than this is taken for gone (it was killed, or its host is down)."""


def worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"


def beat(client: redis.Redis, name: str, state: str) -> None:
    """Record that this worker is alive (`idle` or `busy`)."""
    client.hset(keys.WORKERS, name, f"{state} {time.time():.3f}")


def leave(client: redis.Redis, name: str) -> None:
    """A worker stopping takes its name off the list (one killed ages out after GONE_SECONDS)."""
    client.hdel(keys.WORKERS, name)


def serving(client: redis.Redis, now: float | None = None) -> list[tuple[str, float]]:
    """(state, heartbeat epoch) of every hand-over worker heard from within GONE_SECONDS; older entries are
    dropped from the hash as they are found."""
    now = time.time() if now is None else now
    found: list[tuple[str, float]] = []
    gone: list[bytes | str] = []
    for name, value in client.hgetall(keys.WORKERS).items():
        state, _, stamp = keys.as_text(value).partition(" ")
        try:
            heartbeat = float(stamp)
        except ValueError:
            heartbeat = 0.0
        if now - heartbeat > GONE_SECONDS:
            gone.append(name)
        else:
            found.append((state or "unknown", heartbeat))
    if gone:
        client.hdel(keys.WORKERS, *gone)
    return found
