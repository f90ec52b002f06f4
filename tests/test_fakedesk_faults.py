"""Both fakes fail the same ways on demand: error answers, slow answers and dropped connections, each for the
next N requests matching a pattern, so a fault-injection suite can drive either vendor."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from escalator.fakedesk.base import FakeDesk
from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import FakeZendesk


@dataclass
class Vendor:
    """One fake with a ticket and the write that changes it, in that vendor's API."""

    desk: FakeDesk
    headers: dict[str, str]
    write_path: str
    write_body: dict[str, Any]
    read_path: str

    def write(self, **kwargs: Any) -> requests.Response:
        url = f"{self.desk.base_url}{self.write_path}"
        return requests.put(url, json=self.write_body, headers=self.headers, timeout=kwargs.pop("timeout", 5))

    def read(self) -> requests.Response:
        return requests.get(f"{self.desk.base_url}{self.read_path}", headers=self.headers, timeout=5)

    def writes(self) -> list[dict[str, Any]]:
        return self.desk.writes


def _zendesk() -> Vendor:
    desk = FakeZendesk()
    ticket = desk.create_ticket("T", "d", desk.add_user("Jane", "jane@x.example"))
    body = {"ticket": {"priority": "high"}}
    path = f"/api/v2/tickets/{ticket['id']}.json"
    return Vendor(desk, {"Authorization": "Bearer t"}, path, body, "/api/v2/users/me.json")


def _freshdesk() -> Vendor:
    desk = FakeFreshdesk()
    ticket = desk.create_ticket("T", "d", desk.add_contact("Dana", "dana@x.example"))
    headers = {"Authorization": "Basic " + base64.b64encode(b"key:X").decode()}
    return Vendor(desk, headers, f"/api/v2/tickets/{ticket['id']}", {"priority": 4}, "/api/v2/agents/me")


@pytest.fixture(params=[_zendesk, _freshdesk], ids=["zendesk", "freshdesk"])
def vendor(request: pytest.FixtureRequest) -> Iterator[Vendor]:
    made: Vendor = request.param()
    made.desk.start()
    yield made
    made.desk.stop()


def test_a_dropped_connection_gets_no_answer_and_the_write_does_not_land(vendor: Vendor) -> None:
    vendor.desk.drop(r"PUT /api/v2/tickets/\d+", times=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            vendor.write()
    assert vendor.writes() == [], "a dropped request is not handled"
    assert vendor.read().status_code == 200, "other calls are not dropped"
    assert vendor.write().status_code == 200, "the fault is spent after `times` requests"
    assert len(vendor.writes()) == 1


def test_a_drop_can_wait_first_as_a_hung_proxy_would(vendor: Vendor) -> None:
    vendor.desk.drop(r"PUT ", delay=0.3)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        vendor.write()
    assert time.monotonic() - started >= 0.3


def test_error_and_slow_answers_come_in_the_vendors_shape(vendor: Vendor) -> None:
    vendor.desk.fail(r"PUT ", 503, retry_after=7)
    failed = vendor.write()
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "7"
    assert "injected 503" in failed.text and vendor.writes() == []
    vendor.desk.fail(r"PUT ", 500, delay=0.5)
    with pytest.raises(requests.Timeout):
        vendor.write(timeout=0.2)
    assert vendor.write().status_code == 200


def test_faults_wait_for_their_turn_in_the_order_they_were_set(vendor: Vendor) -> None:
    vendor.desk.drop(r"PUT ")
    vendor.desk.fail(r"PUT ", 502)
    with pytest.raises(requests.ConnectionError):
        vendor.write()
    assert vendor.write().status_code == 502
    assert vendor.write().status_code == 200
    assert [fault.times for fault in vendor.desk.faults] == [0, 0]
