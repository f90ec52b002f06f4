"""The incident records on a real Redis: the detector counts each ticket once within its window, opens one
incident however many workers see the threshold at once, and hands the tickets counted so far to it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import redis

from escalator.plugin.incidents.store import IncidentStore

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
WINDOW = 15 * 60


def member(ticket: str) -> dict[str, str]:
    return {"ticket_id": ticket, "name": f"Customer {ticket}", "locale": "en-US"}


def test_the_threshold_th_ticket_within_the_window_opens_the_incident(redis_client: redis.Redis) -> None:
    store = IncidentStore(redis_client, "acme")
    assert store.count_match("outage", "1", T0, WINDOW, 3, member("1")) == ("counting", "1")
    assert store.count_match("outage", "1", T0 + timedelta(minutes=1), WINDOW, 3, member("1")) == ("counting", "1")
    assert store.count_match("outage", "2", T0 + timedelta(minutes=20), WINDOW, 3, member("2")) == ("counting", "1")
    assert store.count_match("outage", "3", T0 + timedelta(minutes=21), WINDOW, 3, member("3")) == ("counting", "2")
    outcome, incident_id = store.count_match("outage", "4", T0 + timedelta(minutes=22), WINDOW, 3, member("4"))
    assert outcome == "opened" and incident_id.startswith("outage-20260309T142200")
    assert set(store.pending(incident_id)) == {"2", "3", "4"}, "ticket 1 fell out of the window"
    assert store.view("3").open == {"outage": incident_id} and store.view("3").member_of == incident_id
    assert store.count_match("outage", "5", T0 + timedelta(minutes=23), WINDOW, 3, member("5")) == ("open", incident_id)


def test_workers_seeing_the_threshold_at_once_open_one_incident(redis_client: redis.Redis) -> None:
    stores = [IncidentStore(redis.Redis(connection_pool=redis_client.connection_pool), "acme") for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(lambda n: stores[n % 8].count_match("outage", str(n), T0, WINDOW, 5, member(str(n)))[0], range(40))
        )
    assert outcomes.count("opened") == 1 and outcomes.count("counting") == 4
    (incident,) = IncidentStore(redis_client, "acme").all()
    assert incident.status == "open" and incident.opened_by == "detector"


def test_an_admin_cannot_open_a_second_incident_of_a_rule(redis_client: redis.Redis) -> None:
    store = IncidentStore(redis_client, "acme")
    first = store.open_by_hand("outage", T0, "status page says so")
    with pytest.raises(ValueError, match="already has an open incident"):
        store.open_by_hand("outage", T0 + timedelta(seconds=1), "")
    assert store.view("9").open == {"outage": first.id}
    store.resolving(first.id)
    assert store.view("9").open == {}, "a resolving incident takes no more tickets"
