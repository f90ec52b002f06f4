"""Drains without RQ, for a Redis Cluster: workers take drain tokens from the tenants' hand-over lists.

RQ cannot run on a cluster: its queue, job hashes and registries are keys of many slots, touched together.
Escalator needs very little of it anyway: a drain token, handed to some worker. On a cluster the intake step
(plugin.queue_scripts.INTAKE) pushes a new token on the tenant's own hand-over list (in the tenant's slot,
so the step stays atomic) and publishes the tenant's name on one wake channel; every worker subscribes, pops
tokens and runs the same drain an RQ job would (plugin.jobs.drain), one at a time per process.

Nothing depends on the wake message: it only saves waiting. Every few seconds (and after any outage) a
worker looks at every tenant's list anyway, and the housekeeping sweep hands out a new token whenever due
work has none (a token whose worker died expires with its drain lease).
"""

from __future__ import annotations

import logging
import random
import threading
import time

from redis.client import PubSub

from escalator.plugin import keys
from escalator.plugin.connection import UNAVAILABLE, close_quietly, confirmed_subscription
from escalator.plugin.logs import throttled
from escalator.plugin.queue import WAKE_CHANNEL
from escalator.plugin.runtime import Runtime

log = logging.getLogger(__name__)

LOOK_SECONDS = 2.0
"""How often an idle worker looks at every tenant's hand-over list without being woken."""
_STOP_SLICE = 0.25
"""Longest a waiting loop goes without checking its stop event."""


class HandOverLoop:
    """One worker process's loop over the tenants' hand-over lists (the cluster's stand-in for RQ's)."""

    def __init__(self, runtime: Runtime, stop: threading.Event) -> None:
        self.runtime = runtime
        self.stop = stop
        self._next = 0
        self.busy = False
        """A drain is running (the heartbeat says `busy`)."""

    def run(self) -> None:
        """Serve drain tokens until `stop` is set; outages are waited out (reported once)."""
        pubsub: PubSub | None = None
        backoff = 0.05
        looked = 0.0
        while not self.stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self._subscribe()
                    looked = 0.0  # tokens may have been handed over while we were not listening
                woken = self._wait(pubsub, looked)
                if self.stop.is_set():
                    break
                if self.serve(woken):
                    continue  # there may be more: look again before sleeping
                looked = time.monotonic()
                self.runtime.outage.up()
                backoff = 0.05
            except UNAVAILABLE as error:
                self.runtime.outage.down(error)
                close_quietly(pubsub)
                pubsub = None
                self.stop.wait(backoff + random.uniform(0, backoff))
                backoff = min(backoff * 2, 2.0)
            except Exception as error:  # the loop must outlive anything a drain meets
                throttled(log, logging.ERROR, "hand-over loop", "hand-over loop error: %s", error, exc_info=error)
                close_quietly(pubsub)
                pubsub = None
                self.stop.wait(1.0)
        close_quietly(pubsub)

    def serve(self, tenants: set[str] | None) -> bool:
        """Take one token from the tenants named (None: every tenant, in turn) and run its drain; False when
        there was none."""
        from escalator.plugin.jobs import drain

        names = sorted(self.runtime.config.tenants)
        order = names[self._next :] + names[: self._next]
        for tenant in order if tenants is None else [name for name in order if name in tenants]:
            token = self.runtime.queue.take_token(tenant)
            if token is None:
                continue
            self._next = (names.index(tenant) + 1) % len(names)  # fairness: the next tenant goes first next time
            self.busy = True
            try:
                drain(tenant, token)
            finally:
                self.busy = False
            self.runtime.alive()
            return True
        return False

    def _subscribe(self) -> PubSub:
        return confirmed_subscription(self.runtime.listener, WAKE_CHANNEL)

    def _wait(self, pubsub: PubSub, looked: float) -> set[str] | None:
        """The tenants a wake message named, or None when it is time to look at every tenant."""
        end = looked + LOOK_SECONDS
        while not self.stop.is_set():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=min(remaining, _STOP_SLICE))
            if message is None:
                continue
            woken = {keys.as_text(message["data"])}
            while (more := pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0)) is not None:
                woken.add(keys.as_text(more["data"]))
            return woken
        return set()
