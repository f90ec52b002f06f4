"""gunicorn settings for the receiver (`gunicorn -c python:escalator.plugin.gunicorn_conf
escalator.plugin.wsgi:app`), each overridable from the environment or gunicorn's own flags.

- one process per core (WEB_CONCURRENCY overrides): webhook verification and parsing are CPU work;
- a few threads per process (`gthread`): while one request waits on Redis another is parsed, and help desks
  keep connections alive between deliveries;
- a short graceful timeout, well inside Docker's stop grace: a webhook is answered in milliseconds, and one
  not answered is delivered again by the help desk.
"""

from __future__ import annotations

import os

bind = os.environ.get("ESCALATOR_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_class = "gthread"
threads = int(os.environ.get("ESCALATOR_THREADS", "4"))
keepalive = 5
timeout = 30
graceful_timeout = 10
accesslog = None
errorlog = "-"
loglevel = os.environ.get("ESCALATOR_LOG_LEVEL", "warning")
