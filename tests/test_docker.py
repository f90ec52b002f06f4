"""The image and compose file, checked statically (no Docker engine here): what they promise is wired up.

One slim non-root image with `serve` and `worker`; a HEALTHCHECK on the receiver's /healthz; compose starts
Redis with AOF everysec and noeviction beside them; the wheel carries every data file the code loads.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from escalator.plugin.app import create_app
from escalator.plugin.cli import build_parser
from escalator.plugin.config import Config
from escalator.plugin.embedded import embedded_redis
from escalator.plugin.runtime import Runtime
from escalator.plugin.worker import GRACE_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"use the exec form (a JSON list), not a shell string: {arguments}"
    return [str(item) for item in value]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_the_image_is_slim_and_runs_as_a_non_root_user() -> None:
    stage = final_stage()
    assert re.fullmatch(r"python:3\.\d+-slim", stage[0][1]), "a slim Python base image"
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (so runAsNonRoot can verify it)"
    runs = " ".join(arguments for keyword, arguments in stage if keyword == "RUN")
    assert "gcc" not in runs and "build-essential" not in runs and "apt-get install" not in runs
    copied = [arguments for keyword, arguments in stage if keyword == "COPY"]
    assert all("--from=build" in arguments for arguments in copied), "only the built environment is copied in"


def test_one_entry_point_serves_by_default_and_runs_workers_on_request() -> None:
    stage = final_stage()
    entrypoint = exec_form(next(arguments for keyword, arguments in stage if keyword == "ENTRYPOINT"))
    command = exec_form(next(arguments for keyword, arguments in stage if keyword == "CMD"))
    assert entrypoint == ["escalator"]
    assert command[:1] == ["serve"] and command[command.index("--host") + 1] == "0.0.0.0"
    parser = build_parser()
    assert parser.parse_args(["worker"]).run.__name__ == "cmd_worker"
    assert parser.parse_args(command).run.__name__ == "cmd_serve"
    assert compose()["services"]["worker"]["command"] == ["worker"]


def test_the_healthcheck_asks_the_receivers_healthz_on_its_exposed_port() -> None:
    stage = final_stage()
    (check,) = [arguments for keyword, arguments in stage if keyword == "HEALTHCHECK"]
    port = next(arguments for keyword, arguments in stage if keyword == "EXPOSE")
    command = exec_form(next(arguments for keyword, arguments in stage if keyword == "CMD"))
    assert command[command.index("--port") + 1] == port
    probe = check.split("CMD", 1)[1].strip()
    assert f"http://127.0.0.1:{port}/healthz" in probe
    assert "curl" not in probe and "wget" not in probe, "the slim image has neither: Python does the probe"
    assert "--interval=" in check and "--timeout=" in check
    runtime = Runtime(Config(tenants={}), embedded_redis())
    assert create_app(runtime).test_client().get("/healthz").status_code == 200


def test_the_build_copies_what_the_package_needs_and_no_secrets() -> None:
    steps = instructions()
    copied = " ".join(arguments for keyword, arguments in steps if keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "plugin", "connectors", "rules"):
        assert needed in copied
    environment = " ".join(arguments for keyword, arguments in steps if keyword in ("ENV", "ARG"))
    assert not re.search(r"(SECRET|TOKEN|API_KEY|PASSWORD)", environment), "secrets come at run time, never baked in"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_the_wheel_carries_every_data_file_the_code_loads() -> None:
    """`importlib.resources` files must be package data, or an installed Escalator (the image) cannot start."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    loaded = set()
    for source in [*ROOT.glob("plugin/**/*.py"), *ROOT.glob("rules/**/*.py"), *ROOT.glob("connectors/**/*.py")]:
        loaded |= set(re.findall(r'resources\.files\("escalator\.(\w+)"\)\.joinpath\("([^"]+)"\)', source.read_text()))
    assert ("plugin", "config_schema.json") in loaded and ("rules", "schema.json") in loaded
    for package, name in loaded:
        assert (ROOT / package / name).is_file()
        wanted = patterns.get(f"escalator.{package}", [])
        assert any(fnmatch.fnmatch(name, pattern) for pattern in wanted), f"{package}/{name}"


def test_compose_runs_redis_as_a_database_beside_the_receiver_and_a_worker() -> None:
    services = compose()["services"]
    redis = services["redis"]
    arguments = " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    options = dict(re.findall(r"--([\w-]+) (\S+)", arguments))
    assert options == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
    assert any(volume.endswith(":/data") for volume in redis["volumes"]), "the AOF survives the container"
    assert "healthcheck" in redis
    for name in ("receiver", "worker"):
        service = services[name]
        assert service["build"] == "." and service["image"] == services["receiver"]["image"], "one image"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["ESCALATOR_CONFIG"].startswith("/config/")
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert all(volume.endswith(":ro") for volume in service["volumes"]), "configuration mounted read-only"
    assert services["receiver"]["ports"] == ["8000:8000"]
    worker = services["worker"]
    assert worker["healthcheck"]["test"] == ["CMD", "escalator", "healthcheck"], "the worker's own health file"
    assert "ports" not in worker
    for name in ("receiver", "worker"):
        grace = int(services[name]["stop_grace_period"].removesuffix("s"))
        assert grace > GRACE_SECONDS + 2, "Docker's SIGKILL comes after the worker's own graceful stop"


def test_compose_runs_the_receiver_on_every_core_under_gunicorn() -> None:
    """The receiver's WSGI app under gunicorn with the shipped settings, on the port the image exposes and
    the Dockerfile's health check probes; the worker keeps the image's own entry point."""
    receiver = compose()["services"]["receiver"]
    assert receiver["entrypoint"] == ["gunicorn"]
    command = receiver["command"]
    assert command[-1] == "escalator.plugin.wsgi:app"
    assert command[command.index("-c") + 1] == "python:escalator.plugin.gunicorn_conf"
    port = next(arguments for keyword, arguments in final_stage() if keyword == "EXPOSE")
    assert command[command.index("--bind") + 1] == f"0.0.0.0:{port}"
    assert "entrypoint" not in compose()["services"]["worker"]
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(item.startswith("gunicorn") for item in dependencies), "gunicorn is installed with the package"

    from escalator.plugin import gunicorn_conf

    assert gunicorn_conf.worker_class == "gthread" and gunicorn_conf.workers >= 1
    assert gunicorn_conf.graceful_timeout < int(receiver["stop_grace_period"].removesuffix("s"))
