# One image, two entry points: `escalator serve` (the webhook receiver) and `escalator worker` (drains, timers
# and the periodic reconciliation). Slim, non-root, no compiler or build tools in the final image.
#
#   docker build -t escalator .
#   docker run -e ESCALATOR_CONFIG=/config/escalator.json -e REDIS_URL=redis://redis:6379/0 \
#              -v ./config:/config:ro -p 8000:8000 escalator                 # serve (the default)
#   docker run ... escalator worker                                          # a worker
#   docker run ... --entrypoint gunicorn escalator -c python:escalator.plugin.gunicorn_conf \
#              escalator.plugin.wsgi:app                                     # the receiver on every core

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/escalator
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md LICENSE ./
COPY escalator/__init__.py ./escalator/
COPY plugin ./plugin
COPY connectors ./connectors
COPY rules ./rules
COPY fakedesk ./fakedesk
RUN /opt/escalator/bin/pip install . \
 && /opt/escalator/bin/python -c "from escalator.plugin.config import config_schema; from escalator.rules.loader import load_policy_file; from escalator.plugin.demo import seed_policy_path; config_schema(); load_policy_file(seed_policy_path()); import escalator.plugin.wsgi, gunicorn"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/escalator/bin:$PATH
RUN groupadd --system --gid 10001 escalator \
 && useradd --system --uid 10001 --gid escalator --no-log-init --create-home --shell /usr/sbin/nologin escalator
COPY --from=build /opt/escalator /opt/escalator
USER 10001:10001
WORKDIR /home/escalator
EXPOSE 8000
# `serve` answers /healthz; a worker has no HTTP port: compose replaces this check with `escalator healthcheck`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["escalator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
