"""Failing loudly and losing nothing: the receiver without Redis, bad input that is validly signed, poison
events, dead letters, exit codes, and the Redis clients' explicit timeouts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, Worker

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.cli import main
from escalator.plugin.config import Config
from escalator.plugin.connection import ROLES, RedisUrlError, connect, describe, parse_redis_url
from escalator.plugin.embedded import EmbeddedService
from escalator.plugin.runtime import QUEUE_NAME, Runtime
from tests.conftest import _free_port
from tests.support import TENANT, V1_POLICY, Pipeline, signed_headers, tenant_config, wait_for


def outage_ticket(pipe: Pipeline, subject: str = "Outage: cannot log in") -> int:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    return int(pipe.desk.create_ticket(subject, "Nobody on our team can sign in.", jane)["id"])


def replies(pipe: Pipeline, ticket_id: int) -> list[dict[str, Any]]:
    return [w for w in pipe.writes(ticket_id) if w.get("comment", {}).get("public")]


# --- the receiver when Redis is gone ----------------------------------------------------------------------------


@pytest.fixture
def unreachable_receiver() -> Any:
    """A receiver whose Redis is a closed port, with the receiver's own fail-fast client."""
    client = connect(f"redis://127.0.0.1:{_free_port()}/0", "receiver")
    config = Config(tenants={TENANT: tenant_config("http://127.0.0.1:9")})
    return create_app(Runtime(config, client)).test_client()


def test_a_webhook_gets_503_with_retry_after_within_two_seconds_when_redis_is_down(unreachable_receiver: Any) -> None:
    body = json.dumps({"escalator": {"event": "ticket.created", "ticket_id": "42"}}).encode()
    started = time.monotonic()
    answer = unreachable_receiver.post(f"/webhooks/zendesk/{TENANT}", data=body, headers=signed_headers(body))
    assert time.monotonic() - started < 2.0
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.get_json() == {"error": "queue unavailable, retry later"}


def test_metrics_and_readyz_say_why_in_plain_words_when_redis_is_down(unreachable_receiver: Any) -> None:
    metrics = unreachable_receiver.get("/metrics")
    assert metrics.status_code == 503 and metrics.mimetype == "text/plain" and b"<html" not in metrics.data.lower()
    ready = unreachable_receiver.get("/readyz")
    assert ready.status_code == 503 and "Redis unavailable" in ready.get_json()["reason"]
    assert unreachable_receiver.get("/healthz").status_code == 200, "the process itself is up"


def test_a_hung_redis_is_answered_503_within_the_receivers_read_timeout() -> None:
    """A server that accepts and never answers (a stopped Redis): the receiver's 1-second read timeout."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        port = listener.getsockname()[1]
        config = Config(tenants={TENANT: tenant_config("http://127.0.0.1:9")})
        client = create_app(Runtime(config, connect(f"redis://127.0.0.1:{port}/0", "receiver"))).test_client()
        body = json.dumps({"escalator": {"event": "ticket.created", "ticket_id": "42"}}).encode()
        started = time.monotonic()
        answer = client.post(f"/webhooks/zendesk/{TENANT}", data=body, headers=signed_headers(body))
        assert answer.status_code == 503 and time.monotonic() - started < 2.0
    finally:
        listener.close()


# --- bad input, validly signed ---------------------------------------------------------------------------------


def test_deeply_nested_json_is_400_not_500(pipe: Pipeline) -> None:
    body = ("[" * 100_000 + "]" * 100_000).encode()
    assert pipe.post(body).status_code == 400
    nested = '{"escalator": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    assert pipe.post(nested.encode()).status_code == 400


def _event(ticket: str = "50001", event_id: str = "evt-1", time_: str | None = None) -> dict[str, Any]:
    now = time_ or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "zen:event-type:ticket.created",
        "account_id": 1,
        "id": event_id,
        "time": now,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket}",
        "detail": {"id": ticket, "status": "NEW", "subject": "Outage", "created_at": now, "updated_at": now},
        "event": {},
    }


def test_an_event_id_with_a_lone_surrogate_is_400(pipe: Pipeline) -> None:
    body = json.dumps(_event(event_id="\ud8b5")).encode()
    assert pipe.post(body).status_code == 400
    assert pipe.redis.zcard(keys.ready(TENANT)) == 0


def test_an_event_dated_far_in_the_future_is_refused_not_queued(pipe: Pipeline) -> None:
    answer = pipe.post(_event(time_="9999-12-31T23:59:59Z"))
    assert answer.status_code == 400 and "plausible" in answer.get_json()["error"]
    assert pipe.redis.zcard(keys.ready(TENANT)) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("created_at", "not-a-date", "detail.created_at is not an ISO 8601 instant"),
        ("subject", {"text": "x"}, "detail.subject must be a string"),
        ("tags", "outage", "detail.tags must be a list of strings"),
        ("group_id", {"id": 1}, "detail.group_id must be an id"),
    ],
)
def test_a_malformed_snapshot_is_refused_with_its_reason(pipe: Pipeline, field: str, value: Any, message: str) -> None:
    payload = _event()
    payload["detail"][field] = value
    answer = pipe.post(payload)
    assert answer.status_code == 400 and message in answer.get_json()["error"]


def test_leading_zeros_name_the_same_ticket(pipe: Pipeline) -> None:
    assert pipe.post(_event("00050001", "evt-a")).get_json()["ticket"] == "50001"
    assert pipe.post(_event("50001", "evt-b")).get_json()["ticket"] == "50001"
    assert pipe.redis.llen(keys.inbox(TENANT, "50001")) == 2
    assert not pipe.redis.exists(keys.inbox(TENANT, "00050001"))


# --- poison events and dead letters ------------------------------------------------------------------------------


def test_a_poison_event_is_dead_lettered_alone_at_once_and_the_good_ones_go_through(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    payloads = pipe.desk.pending_webhooks()
    pipe.desk._outbox.clear()
    # What a worker may find queued: an event that does not decode, and one whose snapshot cannot be read.
    inbox = keys.inbox(TENANT, str(ticket_id))
    pipe.redis.rpush(inbox, '{"kind": "ticket.created", "ticket_id": ')
    accepted = json.loads(pipe.post(payloads[0]).get_data() or b"{}")  # the real one, queued by the receiver
    assert accepted["status"] == "accepted"
    newest = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad_snapshot = {  # the newest event, so its snapshot is the one the decision would be made on
        "delivery_id": "zendesk:bad-snapshot",
        "kind": "ticket.updated",
        "ticket_id": str(ticket_id),
        "occurred_at": newest,
        "snapshot": {"updated_at": "yesterday", "status": "open", "created_at": "2026-01-01T00:00:00Z"},
    }
    pipe.redis.rpush(inbox, json.dumps(bad_snapshot))
    pipe.work()

    assert len(replies(pipe, ticket_id)) == 1, "the good event escalated the ticket at the first attempt"
    dead = [json.loads(raw) for raw in pipe.redis.lrange(keys.dead_letters(TENANT), 0, -1)]
    assert len(dead) == 2
    assert "unreadable event" in dead[0]["error"] and dead[1]["event"]["delivery_id"] == "zendesk:bad-snapshot"
    assert pipe.redis.llen(inbox) == 0 and not pipe.redis.hget(keys.attempts(TENANT), str(ticket_id))


@pytest.fixture
def configured(pipe: Pipeline, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    config = tmp_path / "escalator.json"
    config.write_text(
        json.dumps(
            {
                "tenants": {
                    TENANT: {
                        "vendor": "zendesk",
                        "base_url": pipe.desk.base_url,
                        "auth": {"email": "escalator@acme.example", "api_token": "token"},
                        "webhook_secret": "s",
                        "rules": str(V1_POLICY),
                    }
                }
            }
        )
    )
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", redis_url)
    return pipe


def test_dead_letters_are_listed_and_replayed_once(configured: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = configured
    del pipe.desk.groups[102]  # no "Tier 2": the escalation cannot be written
    ticket_id = outage_ticket(pipe)
    pipe.deliver_pending()
    for _ in range(12):
        pipe.redis.zadd(keys.ready(TENANT), {str(ticket_id): 0}, xx=True)
        pipe.runtime.wake(TENANT)
        pipe.work()
    assert main(["dead-letters", TENANT]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"dead letters of {TENANT}: 1 event(s)"
    assert out[1].startswith(f"  #{ticket_id} ticket.created at ") and "10 attempt(s): " in out[1]
    assert "no group named 'Tier 2'" in out[1]
    assert main(["dead-letters", TENANT, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["ticket_id"], item["event"], item["attempts"]) for item in listed] == [
        (str(ticket_id), "ticket.created", 10)
    ]

    pipe.desk.groups[102] = "Tier 2"  # the admin fixes the help desk, then replays
    assert main(["dead-letters", TENANT, "--replay", str(ticket_id)]) == 0
    assert "1 event(s) of ticket(s)" in capsys.readouterr().out
    assert main(["dead-letters", TENANT, "--replay"]) == 0, "a second replay finds nothing left"
    assert "0 event(s)" in capsys.readouterr().out
    pipe.work()
    assert len(replies(pipe, ticket_id)) == 1 and pipe.desk.tickets[ticket_id]["group_id"] == 102
    assert pipe.redis.llen(keys.dead_letters(TENANT)) == 0


def test_a_write_the_help_desk_keeps_refusing_is_buried_after_three_attempts(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    pipe.deliver_pending()
    pipe.desk.fail(r"PUT /api/v2/tickets/\d+", 422, times=100)
    for _ in range(4):
        pipe.redis.zadd(keys.ready(TENANT), {str(ticket_id): 0}, xx=True)
        pipe.runtime.wake(TENANT)
        pipe.work()
    dead = [json.loads(raw) for raw in pipe.redis.lrange(keys.dead_letters(TENANT), 0, -1)]
    assert len(dead) == 1 and dead[0]["attempts"] == 3


# --- exit codes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["metrics", TENANT],
        ["worker"],
        ["serve", "--port", "0"],
        ["dead-letters", TENANT],
        ["reconcile", TENANT],
        ["backfill", TENANT],
    ],
)
def test_every_command_that_needs_redis_says_so_in_one_line_and_exits_3(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "escalator.json"
    config.write_text(
        json.dumps(
            {
                "tenants": {
                    TENANT: {
                        "vendor": "zendesk",
                        "base_url": "http://127.0.0.1:9",
                        "auth": {"oauth_token": "t"},
                        "webhook_secret": "s",
                        "rules": str(V1_POLICY),
                    }
                }
            }
        )
    )
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("escalator: cannot reach Redis at redis://127.0.0.1:1/0")
    assert "Traceback" not in err


def test_commands_that_need_no_redis_never_touch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["validate", str(V1_POLICY)]) == 0
    assert main(["due", str(V1_POLICY), "--calendar", "business", "--between", "2026-03-06T21:30:00Z",
                 "2026-03-09T14:30:00Z"]) == 0  # fmt: skip
    capsys.readouterr()


def test_the_help_desk_unreachable_is_exit_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"tenants": {TENANT: {
        "vendor": "zendesk", "base_url": f"http://127.0.0.1:{_free_port()}", "auth": {"oauth_token": "t"},
        "webhook_secret": "s", "rules": str(V1_POLICY)}}}))  # fmt: skip
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["install", TENANT, "--dry-run"]) == 4
    assert "connection refused" in capsys.readouterr().out


def test_version_and_every_subcommand_help_names_what_it_reads(capsys: pytest.CaptureFixture[str]) -> None:
    from escalator.plugin.cli import build_parser

    with pytest.raises(SystemExit) as shown:
        main(["--version"])
    assert shown.value.code == 0 and capsys.readouterr().out.startswith("escalator ")
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    for name, sub in commands.choices.items():  # type: ignore[attr-defined]
        assert sub.description, f"{name} says what it does"
        assert sub.epilog and sub.epilog.startswith("environment:"), f"{name} says what it reads"


def test_validate_checks_a_configuration_and_the_rules_it_names(tmp_path: Path, capsys: Any) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": 1, "tiers": []}))
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"public_url": "not a url at all", "tenants": {"acme": {
        "vendor": "zendesk", "subdomain": "acme", "auth": {"oauth_token": {"env": "UNSET"}},
        "webhook_secret": {"env": "ALSO_UNSET"}, "rules": "rules.json"}}}))  # fmt: skip
    assert main(["validate", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{config}: $.public_url: 'not a url at all' is not an http(s) address such as " + (
        "https://escalator.acme.example"
    )
    config.write_text(config.read_text().replace("not a url at all", "https://escalator.acme.example"))
    assert main(["validate", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{rules}: $.tiers") for line in out), "the rules file is checked with its paths"


# --- Redis clients -------------------------------------------------------------------------------------------------


def test_redis_url_forms() -> None:
    assert parse_redis_url("redis://:pw@localhost:6380/2").db == 2
    cluster = parse_redis_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001")
    assert (cluster.kind, cluster.nodes) == ("cluster", (("10.0.0.1", 7000), ("10.0.0.2", 7001)))
    sentinel = parse_redis_url("redis+sentinel://user:s3cret@s1:26379,s2/mymaster/1")
    assert (sentinel.kind, sentinel.master, sentinel.db, sentinel.nodes[1]) == (
        "sentinel",
        "mymaster",
        1,
        ("s2", 26379),
    )
    assert "s3cret" not in describe("redis+sentinel://user:s3cret@s1:26379/mymaster")
    assert "pw" not in describe("redis://:pw@localhost:6380/2")
    for bad in ("http://localhost", "redis+sentinel://s1:26379", "redis+cluster://h:notaport"):
        with pytest.raises(RedisUrlError):
            parse_redis_url(bad)


def test_every_role_sets_its_timeouts_explicitly(redis_url: str) -> None:
    """redis-py 8 defaults to a 5-second read timeout and 3 retries: no role may inherit either."""
    for role, timeouts in ROLES.items():
        client = connect(redis_url, role)
        options = client.connection_pool.connection_kwargs
        assert options["socket_timeout"] == timeouts.read and options["socket_connect_timeout"] == timeouts.connect
        assert client.ping()
    blocking = connect(redis_url, "blocking").connection_pool.connection_kwargs["socket_timeout"]
    assert blocking is not None and blocking > 45, "longer than RQ's blocking dequeue"


def test_the_receiver_client_does_not_retry(redis_url: str) -> None:
    client = connect(f"redis://127.0.0.1:{_free_port()}/0", "receiver")
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 1.0


def test_data_of_the_first_release_moves_to_the_hash_tagged_layout(redis_client: redis.Redis) -> None:
    """An upgrade loses nothing: keys renamed, the shared timer set split per tenant with every due kept."""
    from escalator.plugin.migrate import migrate

    redis_client.rpush("esc:acme:inbox:7", '{"kind": "ticket.created"}')
    redis_client.set("esc:acme:ticket:7", '{"tier": "L2"}')
    redis_client.zadd("esc:acme:ready", {"7": 1.0})
    redis_client.zadd("esc:timers:pending", {"acme:7:sla:first_response": 2000000000.5, "globex:3:sla:resolution": 3.0})
    redis_client.zadd("esc:timers:inflight", {"acme:8:sla:resolution": 99.0})
    redis_client.hset("esc:timers:inflight_due", "acme:8:sla:resolution", 1234.25)
    assert migrate(redis_client, ["acme", "globex"]) == 6
    assert redis_client.lrange(keys.inbox("acme", "7"), 0, -1) == [b'{"kind": "ticket.created"}']
    assert redis_client.get(keys.state("acme", "7")) == b'{"tier": "L2"}'
    assert redis_client.zscore(keys.ready("acme"), "7") == 1.0
    acme = "esc:{acme}:timers:pending"
    assert redis_client.zscore(acme, "acme:7:sla:first_response") == 2000000000.5
    assert redis_client.zscore(acme, "acme:8:sla:resolution") == 1234.25, "an in-flight timer keeps its real due"
    assert redis_client.zscore("esc:{globex}:timers:pending", "globex:3:sla:resolution") == 3.0
    assert not redis_client.exists("esc:timers:pending", "esc:acme:inbox:7")
    assert migrate(redis_client, ["acme", "globex"]) == 0, "once is enough"


def test_a_stopped_in_process_worker_hands_back_a_job_it_takes_while_still_waiting(
    redis_url: str, desk: FakeZendesk
) -> None:
    """The embedded mode's worker thread cannot be interrupted in RQ's blocking dequeue (up to 45 s): a job that
    arrives after the stop must go back to the queue for a running worker, not run on a stopped assembly."""
    client = redis.Redis.from_url(redis_url)
    service = EmbeddedService(Config(tenants={TENANT: tenant_config(desk.base_url)}), client)
    service.start()
    queue = Queue(QUEUE_NAME, connection=client)
    wait_for(lambda: any(worker.get_state() == "idle" for worker in Worker.all(queue=queue)))
    service.stop()
    rq_thread = next(thread for thread in service.worker.threads if thread.name == "escalator-worker")
    assert rq_thread.is_alive(), "still blocked in the dequeue: the case this guards"
    job = queue.enqueue("os.getpid")
    rq_thread.join(timeout=10)
    assert not rq_thread.is_alive(), "it ended once the dequeue returned"
    assert job.get_status(refresh=True) == "queued" and queue.job_ids == [job.id], "handed back, not run"
    assert client.llen(queue.intermediate_queue_key) == 0
    queue.empty()
    client.close()
