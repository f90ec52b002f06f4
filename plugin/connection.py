"""Redis connections with explicit timeouts, one kind per job, from every `REDIS_URL` form DESIGN §2 names.

Why explicit: redis-py 8 gives every connection a 5-second read timeout by default (5.x-7.x: none) and
retries failed commands three times with backoff (5.x: never). Neither default fits every caller:

- the webhook receiver must answer `503` within 2 s when Redis is gone, so it fails fast and never retries;
- RQ's blocking `BLMOVE` waits up to its dequeue timeout, so its connection must wait longer than that (a
  5-second read timeout there made `escalator worker` quit after 5 idle seconds);
- a pub/sub wait has its own timeout, so its socket has none;
- ordinary commands and Lua scripts of workers and admin commands get a bounded read timeout.

No caller retries inside redis-py: a command that timed out may have run, and each caller knows better
(the receiver answers 503 so the help desk delivers again; workers wait for Redis and carry on).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry

log = logging.getLogger(__name__)


class RedisUrlError(ValueError):
    """A `REDIS_URL` Escalator cannot use; the message says which form was expected."""


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float | None
    """None: no read timeout (the caller bounds its own waits)."""


RQ_DEQUEUE_TIMEOUT = 45
"""Seconds RQ's BLMOVE blocks before looping (also how often an idle worker proves it is alive)."""

ROLES: dict[str, Timeouts] = {
    "receiver": Timeouts(connect=0.5, read=1.0),
    "commands": Timeouts(connect=2.0, read=10.0),
    "blocking": Timeouts(connect=2.0, read=RQ_DEQUEUE_TIMEOUT + 15.0),
    "pubsub": Timeouts(connect=2.0, read=None),
}
"""What each kind of caller may wait for: see the module docstring for why each differs."""

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")

UNAVAILABLE: tuple[type[Exception], ...] = tuple(
    getattr(redis.exceptions, name)
    for name in (
        "ConnectionError",
        "TimeoutError",
        "ReadOnlyError",
        "ClusterDownError",
        "TryAgainError",
        "MasterDownError",
    )
    if hasattr(redis.exceptions, name)
)
"""Errors that mean Redis is unreachable or failing over (wait and carry on), as opposed to a command Redis
refused (a bug or bad data: that ticket's failure, retried or dead-lettered like any other)."""


@dataclass(frozen=True)
class RedisTarget:
    """A parsed `REDIS_URL`: one server, a cluster's seed nodes, or Sentinels and the master's name."""

    kind: str  # "server", "cluster" or "sentinel"
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    master: str | None = None
    db: int = 0
    password: str | None = None
    username: str | None = None
    tls: bool = False

    def display(self) -> str:
        """The URL without credentials: safe for logs and error messages."""
        if self.kind == "server":
            parts = urlsplit(self.url)
            if parts.scheme == "unix":
                return f"unix://{parts.path}"
            return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}/{self.db}"
        nodes = ",".join(f"{host}:{port}" for host, port in self.nodes)
        suffix = f"/{self.master}" if self.master else ""
        return f"redis+{self.kind}://{nodes}{suffix}"


def _nodes(netloc: str, scheme: str) -> tuple[tuple[str, int], ...]:
    nodes: list[tuple[str, int]] = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = port, ""
        try:
            number = int(port) if port else (26379 if scheme == "redis+sentinel" else 6379)
        except ValueError:
            raise RedisUrlError(f"'{item}' is not host:port in REDIS_URL") from None
        if not host:
            raise RedisUrlError(f"empty host in REDIS_URL ({scheme}://host:port[,host:port...])")
        nodes.append((host.strip("[]"), number))
    return tuple(nodes)


def parse_redis_url(url: str) -> RedisTarget:
    """`redis://`/`rediss://`/`unix://` (one server), `redis+cluster://h:p[,h:p...]` (Redis Cluster, any seed
    nodes), `redis+sentinel://h:p[,h:p...]/<master>[/db]` (Sentinel); credentials as `user:password@`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise RedisUrlError(
            "REDIS_URL must start with redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// "
            f"(got {scheme + '://' if sep else 'no scheme'})"
        )
    if scheme in ("redis", "rediss", "unix"):
        parts = urlsplit(url)
        try:
            db = (
                int((parts.path or "/0").strip("/") or 0)
                if scheme != "unix"
                else int(parse_qs(parts.query).get("db", ["0"])[0])
            )
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise RedisUrlError(f"REDIS_URL has a bad port or database number: {_redact(url)}") from None
        return RedisTarget("server", url, db=db)
    credentials, _, location = rest.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    netloc, _, path = location.partition("/")
    kind = scheme.removeprefix("redis+")
    segments = [segment for segment in path.split("/") if segment]
    master = segments[0] if kind == "sentinel" and segments else None
    if kind == "sentinel" and not master:
        raise RedisUrlError("redis+sentinel:// needs the master's name: redis+sentinel://host:26379/mymaster")
    db_text = segments[1] if kind == "sentinel" and len(segments) > 1 else "0"
    if not db_text.isdigit():
        raise RedisUrlError(f"'{db_text}' is not a database number in REDIS_URL")
    return RedisTarget(
        kind,
        url,
        nodes=_nodes(netloc, scheme),
        master=master,
        db=int(db_text),
        password=unquote(password) if password else None,
        username=unquote(username) if username else None,
    )


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def _options(timeouts: Timeouts) -> dict[str, Any]:
    return {
        "socket_connect_timeout": timeouts.connect,
        "socket_timeout": timeouts.read,
        "socket_keepalive": True,
        # No retries at all (a timed-out command may have run); `retry_on_timeout` is moot then, and redis-py 6+
        # deprecates it.
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
    }


def connect(url: str, role: str) -> redis.Redis:
    """A client for `role` (a key of ROLES). Cluster clients answer the same commands as `redis.Redis` for
    keys of one hash slot, which is all Escalator sends them (every key of a tenant shares `{tenant}`)."""
    target = parse_redis_url(url)
    options = _options(ROLES[role])
    if target.kind == "server":
        return redis.Redis.from_url(url, **options)
    if target.kind == "cluster":
        from redis.cluster import ClusterNode, RedisCluster

        options.pop("health_check_interval")
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],  # type: ignore[no-untyped-call]
            password=target.password,
            username=target.username,
            **options,
        )
        return cast(redis.Redis, cluster)
    from redis.sentinel import Sentinel

    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.nodes),
        sentinel_kwargs={"socket_connect_timeout": options["socket_connect_timeout"], "socket_timeout": 2.0},
        password=target.password,
        username=target.username,
        db=target.db,
        **options,
    )
    assert target.master is not None
    return cast(redis.Redis, sentinel.master_for(target.master))  # type: ignore[no-untyped-call]


def is_cluster(client: redis.Redis) -> bool:
    """A Redis Cluster client: scripts and pipelines must stay within one hash slot, and RQ cannot run on it."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def describe(url: str) -> str:
    """`REDIS_URL` for messages: no credentials, never a crash on a malformed value."""
    try:
        return parse_redis_url(url).display()
    except RedisUrlError:
        return _redact(url)


def confirmed_subscription(listener: redis.Redis, *channels: str) -> PubSub:
    """One pub/sub connection on `channels`, returned once Redis confirmed every subscription: a wake-up
    published before that would be missed, and with it a deadline or a queued ticket until the next poll."""
    if not channels:
        raise ValueError("a subscription needs at least one channel")
    pubsub: PubSub = listener.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(*channels)
    confirmed, deadline = 0, time.monotonic() + 5.0
    while confirmed < len(channels) and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
        confirmed += message is not None and message["type"] == "subscribe"
    if confirmed < len(channels):
        pubsub.close()
        raise redis.TimeoutError(f"no confirmation for the subscription to {', '.join(channels)}")
    return pubsub


def close_quietly(pubsub: PubSub | None) -> None:
    """Close a pub/sub connection being given up on (after an error): a failure to close changes nothing."""
    if pubsub is None:
        return
    try:
        pubsub.close()
    except Exception:
        log.debug("closing a pub/sub connection failed", exc_info=True)
