"""The RQ baseline's job: record how late it ran relative to the instant it was scheduled for."""

from __future__ import annotations

import os
import time

import redis


def record(due: float) -> None:
    redis.Redis.from_url(os.environ["REDIS_URL"]).rpush("bench:rq:lateness", time.time() - due)
