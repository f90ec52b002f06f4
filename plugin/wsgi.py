"""The webhook receiver as a WSGI application, for a server that runs it on every core:

    gunicorn -c python:escalator.plugin.gunicorn_conf escalator.plugin.wsgi:app

Verifying and parsing a webhook is Python work, so one process is bound to one core; the receiver keeps no
state of its own (everything is in Redis), so any number of processes can serve it side by side. Each one
builds its runtime on first use, after the server forked it, so no Redis connection is shared between
processes. It needs REDIS_URL: the embedded mode (no Redis server) keeps its worker and timers in one
process, so it runs only as `escalator serve`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask

from escalator.plugin.app import create_app as app_for
from escalator.plugin.config import load_config
from escalator.plugin.connection import connect
from escalator.plugin.migrate import migrate
from escalator.plugin.runtime import Runtime

__all__ = ["create_app"]  # and `app`, built on first use (below)


class SetupError(RuntimeError):
    """The process cannot serve: a setting is missing (the server logs this one line and stops)."""


def create_app() -> Flask:
    """The receiver on ESCALATOR_CONFIG and REDIS_URL (gunicorn: `'escalator.plugin.wsgi:create_app()'`)."""
    path, url = os.environ.get("ESCALATOR_CONFIG"), os.environ.get("REDIS_URL")
    if not path:
        raise SetupError("set ESCALATOR_CONFIG to your configuration file")
    if not url:
        raise SetupError("set REDIS_URL: the multi-process receiver shares Redis with the workers (`escalator serve` "
                         "runs the embedded mode without it)")  # fmt: skip
    config = load_config(path)
    # Cheap once done (one GET); before the first webhook so none lands in an old key layout.
    migrate(connect(url, "commands"), config.tenants)
    # The receiver fails fast (503 within 2 s) rather than waiting on Redis: see plugin.connection.
    return app_for(Runtime(config, connect(url, "receiver")))


_app: Flask | None = None
_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    """`app`, built on first use in each process (a server imports this module before it forks)."""
    global _app
    if name != "app":
        raise AttributeError(name)
    with _lock:
        if _app is None:
            _app = create_app()
    return _app
