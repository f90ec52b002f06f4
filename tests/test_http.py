"""VendorHttp: Retry-After, backoff, timeouts and errors sorted by what the caller should do next.

Vendor answers come from `responses` (the HTTP boundary); broken connections come from real sockets on
127.0.0.1 where the failure itself is the point. Nothing sleeps: VendorHttp gets a recording `sleep`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import ProtocolError

from escalator.connectors.errors import ConflictError, PermanentError, RateLimited, TransientError, VendorError
from escalator.connectors.http import MAX_INLINE_WAIT, VendorHttp, retry_after_seconds

BASE = "https://acme.zendesk.com"
TICKET = f"{BASE}/api/v2/tickets/4211.json"
FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
TICKET_BODY = {"ticket": {"id": 4211, "status": "open", "updated_at": "2025-03-03T10:21:02Z"}}


class SleepRecorder:
    """Stands in for time.sleep: remembers every wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def waits() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def vendor() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


def http(sleep: SleepRecorder, base: str = BASE, **options: Any) -> VendorHttp:
    return VendorHttp(base, {"Authorization": "Bearer test-token"}, sleep=sleep, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- success -----------------------------------------------------------------------------------------------


def test_json_answer_is_returned_and_headers_are_sent(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, json=TICKET_BODY)
    assert http(waits).request("GET", "/api/v2/tickets/4211.json") == TICKET_BODY
    sent = vendor.calls[0].request.headers
    assert sent["Authorization"] == "Bearer test-token"
    assert sent["Accept"] == "application/json"
    assert waits.waits == []


def test_empty_answer_is_none(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.delete(TICKET, status=204)
    assert http(waits).request("DELETE", "/api/v2/tickets/4211.json") is None


def test_absolute_urls_are_used_as_given(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    next_page = f"{BASE}/api/v2/groups.json?page=2"
    vendor.get(next_page, json={"groups": []})
    assert http(waits, base="https://elsewhere.example").request("GET", next_page) == {"groups": []}
    assert vendor.calls[0].request.url == next_page


def test_json_body_is_sent(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    update = {"ticket": {"priority": "high", "safe_update": True}}
    vendor.put(TICKET, json=TICKET_BODY)
    http(waits).request("PUT", "/api/v2/tickets/4211.json", json=update, idempotent=False)
    assert json.loads(vendor.calls[0].request.body) == update


def test_on_response_sees_every_answer(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, status=429, headers={"Retry-After": "1"})
    vendor.get(TICKET, json=TICKET_BODY)
    seen: list[int] = []
    http(waits, on_response=lambda response: seen.append(response.status_code)).request("GET", TICKET)
    assert seen == [429, 200]


def test_a_2xx_that_is_not_json_is_transient(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.put(TICKET, body="<html>Maintenance</html>", content_type="text/html")
    with pytest.raises(TransientError) as caught:
        http(waits).request("PUT", TICKET, json={}, idempotent=False)
    assert caught.value.status == 200
    assert caught.value.maybe_applied is True


# --- 429 and Retry-After -----------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_then_succeeds(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, status=429, headers={"Retry-After": "3"}, json={"error": "APIRateLimitExceeded"})
    vendor.get(TICKET, json=TICKET_BODY)
    assert http(waits).request("GET", TICKET) == TICKET_BODY
    assert waits.waits == [3.0]
    assert len(vendor.calls) == 2


def test_429_with_retry_after_http_date_waits_then_succeeds(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, status=429, headers={"Retry-After": formatdate(time.time() + 5, usegmt=True)})
    vendor.get(TICKET, json=TICKET_BODY)
    assert http(waits).request("GET", TICKET) == TICKET_BODY
    assert len(waits.waits) == 1
    assert 3.0 < waits.waits[0] <= 5.0  # HTTP dates have whole seconds


def test_429_on_a_write_is_retried_too(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    # A 429 is a refusal, so even a non-idempotent write is safe to send again.
    vendor.put(TICKET, status=429, headers={"Retry-After": "2"})
    vendor.put(TICKET, json=TICKET_BODY)
    assert http(waits).request("PUT", TICKET, json={}, idempotent=False) == TICKET_BODY
    assert waits.waits == [2.0]


def test_429_with_a_long_retry_after_goes_back_to_the_caller(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    long_wait = MAX_INLINE_WAIT * 12
    vendor.get(TICKET, status=429, headers={"Retry-After": f"{long_wait:g}"})
    with pytest.raises(RateLimited) as caught:
        http(waits).request("GET", TICKET)
    assert caught.value.retry_after == long_wait
    assert caught.value.status == 429
    assert caught.value.maybe_applied is False
    assert waits.waits == []
    assert len(vendor.calls) == 1


def test_429_with_a_far_http_date_goes_back_to_the_caller(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, status=429, headers={"Retry-After": formatdate(time.time() + 3600, usegmt=True)})
    with pytest.raises(RateLimited) as caught:
        http(waits).request("GET", TICKET)
    assert 3590 < caught.value.retry_after <= 3600
    assert waits.waits == []


def test_repeated_429s_end_as_rate_limited(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    for _ in range(3):
        vendor.get(TICKET, status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited):
        http(waits, max_attempts=3).request("GET", TICKET)
    assert len(vendor.calls) == 3
    assert waits.waits == [1.0, 1.0]


@pytest.mark.parametrize("value", ["soon", "Someday, 99 Foo 2025", "nan", "inf", "-inf"])
def test_unreadable_retry_after_falls_back_instead_of_crashing(value: str) -> None:
    assert retry_after_seconds(value, default=42.0) == 42.0


@pytest.mark.parametrize("value", [None, ""])
def test_missing_retry_after_uses_the_default(value: str | None) -> None:
    assert retry_after_seconds(value, default=42.0) == 42.0


def test_retry_after_is_never_negative() -> None:
    assert retry_after_seconds("-5") == 0.0
    assert retry_after_seconds(formatdate(time.time() - 60, usegmt=True)) == 0.0


def test_retry_after_http_date_without_a_zone_is_gmt() -> None:
    moment = time.time() + 30
    date = formatdate(moment, usegmt=True).replace("GMT", "-0000")
    assert 28.0 < retry_after_seconds(date) <= 30.0


def test_unreadable_retry_after_on_a_429_is_rate_limited(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, status=429, headers={"Retry-After": "in a while"})
    with pytest.raises(RateLimited) as caught:
        http(waits).request("GET", TICKET)
    assert caught.value.retry_after > MAX_INLINE_WAIT


# --- 5xx ---------------------------------------------------------------------------------------------------


def test_5xx_on_a_read_is_retried_with_backoff_then_succeeds(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, status=503, json={"error": "ServiceUnavailable"})
    vendor.get(TICKET, status=502, body="Bad Gateway")
    vendor.get(TICKET, json=TICKET_BODY)
    assert http(waits).request("GET", TICKET) == TICKET_BODY
    assert len(vendor.calls) == 3
    assert len(waits.waits) == 2
    assert 0 < waits.waits[0] < waits.waits[1]


def test_5xx_on_a_read_gives_up_after_max_attempts(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    for _ in range(3):
        vendor.get(TICKET, status=500, json={"error": "InternalError", "description": "try later"})
    with pytest.raises(TransientError) as caught:
        http(waits, max_attempts=3).request("GET", TICKET)
    assert caught.value.status == 500
    assert caught.value.maybe_applied is False
    assert "try later" in str(caught.value)
    assert len(vendor.calls) == 3
    assert len(waits.waits) == 2 and waits.waits[0] < waits.waits[1]


def test_5xx_on_a_non_idempotent_put_is_reported_at_once(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.put(TICKET, status=500)
    with pytest.raises(TransientError) as caught:
        http(waits).request(
            "PUT", TICKET, json={"ticket": {"comment": {"body": "hi", "public": True}}}, idempotent=False
        )
    assert caught.value.maybe_applied is True
    assert caught.value.status == 500
    assert len(vendor.calls) == 1
    assert waits.waits == []


def test_5xx_on_an_idempotent_put_is_retried(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.put(TICKET, status=502)
    vendor.put(TICKET, json=TICKET_BODY)
    assert http(waits).request("PUT", TICKET, json={"ticket": {"priority": "high"}}) == TICKET_BODY
    assert len(vendor.calls) == 2


# --- 4xx ---------------------------------------------------------------------------------------------------


def test_409_is_a_conflict(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    description = "Safe Update prevented the update due to outdated ticket data."
    vendor.put(TICKET, status=409, json={"error": "UpdateConflict", "description": description})
    with pytest.raises(ConflictError) as caught:
        http(waits).request("PUT", TICKET, json={}, idempotent=False)
    assert caught.value.status == 409
    assert description in str(caught.value)
    assert len(vendor.calls) == 1


def test_422_is_permanent_with_zendesk_details(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    body = json.loads((FIXTURES / "api_error_422.json").read_text())
    vendor.put(TICKET, status=422, json=body)
    with pytest.raises(PermanentError) as caught:
        http(waits).request("PUT", TICKET, json={}, idempotent=False)
    message = str(caught.value)
    assert caught.value.status == 422
    assert body["details"]["status"][0]["description"] in message
    assert body["error"] in message
    assert len(vendor.calls) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_client_errors_are_permanent_and_not_retried(
    status: int, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, status=status, json={"error": "RecordNotFound", "description": "Not found"})
    with pytest.raises(PermanentError) as caught:
        http(waits).request("GET", TICKET)
    assert caught.value.status == status
    assert "Not found" in str(caught.value)
    assert len(vendor.calls) == 1
    assert waits.waits == []


def test_zendesk_error_object_shape_is_read(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    error = {"title": "No help desk at acme.zendesk.com", "message": "There is no help desk configured here."}
    vendor.get(TICKET, status=404, json={"error": error})
    with pytest.raises(PermanentError) as caught:
        http(waits).request("GET", TICKET)
    assert error["title"] in str(caught.value)
    assert error["message"] in str(caught.value)


def test_freshdesk_style_errors_are_read(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    body = {
        "description": "Validation failed",
        "errors": [
            {"field": "email", "message": "It should be a valid email address", "code": "invalid_value"},
            {"field": "priority", "message": "It should be one of these values: '1,2,3,4'", "code": "invalid_value"},
        ],
    }
    vendor.put(f"{BASE}/api/v2/tickets/7", status=400, json=body)
    with pytest.raises(PermanentError) as caught:
        http(waits).request("PUT", "/api/v2/tickets/7", json={}, idempotent=False)
    message = str(caught.value)
    assert body["description"] in message
    for item in body["errors"]:
        assert f"{item['field']}: {item['message']} ({item['code']})" in message


def test_freshdesk_error_without_a_field_has_no_stray_colon(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, status=403, json={"errors": [{"message": "You are not authorized", "code": "access_denied"}]})
    with pytest.raises(PermanentError) as caught:
        http(waits).request("GET", TICKET)
    assert "You are not authorized (access_denied)" in str(caught.value)
    assert ": You are not" not in str(caught.value)


@pytest.mark.parametrize("body", [{"errors": 5}, {"errors": "bad"}, {"details": "oops"}, ["not", "an", "object"]])
def test_odd_error_bodies_still_raise_the_right_error(
    body: Any, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, status=422, json=body)
    with pytest.raises(PermanentError) as caught:
        http(waits).request("GET", TICKET)
    assert caught.value.status == 422


def test_non_json_error_text_is_kept(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, status=400, body="Bad request: header too large", content_type="text/plain")
    with pytest.raises(PermanentError) as caught:
        http(waits).request("GET", TICKET)
    assert "header too large" in str(caught.value)


def test_every_vendor_failure_is_a_vendor_error(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    for status in (409, 422, 500, 429):
        vendor.put(TICKET, status=status, headers={"Retry-After": "600"})
        with pytest.raises(VendorError) as caught:
            http(waits).request("PUT", TICKET, json={}, idempotent=False)
        assert caught.value.status == status


# --- timeouts and broken connections ----------------------------------------------------------------------


def test_read_timeout_on_a_read_is_retried(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, body=requests.ReadTimeout("read timed out"))
    vendor.get(TICKET, json=TICKET_BODY)
    assert http(waits).request("GET", TICKET) == TICKET_BODY
    assert len(vendor.calls) == 2
    assert len(waits.waits) == 1


def test_read_timeouts_on_a_read_give_up_after_max_attempts(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    for _ in range(2):
        vendor.get(TICKET, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError) as caught:
        http(waits, max_attempts=2).request("GET", TICKET)
    assert caught.value.maybe_applied is False
    assert caught.value.status == 0
    assert len(vendor.calls) == 2


def test_read_timeout_on_a_non_idempotent_put_may_have_landed(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.put(TICKET, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError) as caught:
        http(waits).request("PUT", TICKET, json={}, idempotent=False)
    assert caught.value.maybe_applied is True
    assert len(vendor.calls) == 1
    assert waits.waits == []


def test_connect_timeout_on_a_put_is_retried(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.put(TICKET, body=requests.ConnectTimeout("connect timed out"))
    vendor.put(TICKET, json=TICKET_BODY)
    assert http(waits).request("PUT", TICKET, json={}, idempotent=False) == TICKET_BODY
    assert len(vendor.calls) == 2


@pytest.fixture(scope="module")
def refusal() -> requests.ConnectionError:
    """What requests really raises when nothing listens on the port, captured once from a real socket."""
    try:
        requests.get(f"http://127.0.0.1:{free_port()}/", timeout=5)
    except requests.ConnectionError as error:
        return error
    pytest.fail("a closed port answered")


def test_refused_connection_is_retried_even_for_a_put(
    refusal: requests.ConnectionError, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.put(TICKET, body=refusal)
    vendor.put(TICKET, json=TICKET_BODY)
    assert http(waits).request("PUT", TICKET, json={}, idempotent=False) == TICKET_BODY
    assert len(vendor.calls) == 2
    assert len(waits.waits) == 1


def test_refused_connections_to_a_real_closed_port_end_as_not_applied(waits: SleepRecorder) -> None:
    client = http(waits, base=f"http://127.0.0.1:{free_port()}", max_attempts=3, timeout=(2.0, 2.0))
    with pytest.raises(TransientError) as caught:
        client.request("PUT", "/api/v2/tickets/4211.json", json={}, idempotent=False)
    assert caught.value.maybe_applied is False
    assert len(waits.waits) == 2  # every attempt was made


class HangUpServer:
    """A real socket that reads each request and closes without answering: the write may have landed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if conn.recv(65536):
                    self.requests += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hang_up() -> Iterator[HangUpServer]:
    server = HangUpServer()
    yield server
    server.close()


def test_connection_dropped_after_a_put_was_sent_may_have_landed(hang_up: HangUpServer, waits: SleepRecorder) -> None:
    client = http(waits, base=hang_up.url, timeout=(2.0, 2.0))
    with pytest.raises(TransientError) as caught:
        client.request("PUT", "/api/v2/tickets/4211.json", json={"ticket": {}}, idempotent=False)
    assert caught.value.maybe_applied is True
    assert waits.waits == []
    assert hang_up.requests == 1


def test_connection_dropped_on_a_read_is_retried(hang_up: HangUpServer, waits: SleepRecorder) -> None:
    client = http(waits, base=hang_up.url, max_attempts=2, timeout=(2.0, 2.0))
    with pytest.raises(TransientError) as caught:
        client.request("GET", "/api/v2/tickets/4211.json")
    assert caught.value.maybe_applied is False
    assert len(waits.waits) == 1
    assert hang_up.requests == 2


def test_dropped_connection_shape_from_requests_is_not_mistaken_for_refused(
    vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    # requests wraps a hang-up as ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected(...)))
    dropped = requests.ConnectionError(
        ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    )
    vendor.put(TICKET, body=dropped)
    with pytest.raises(TransientError) as caught:
        http(waits).request("PUT", TICKET, json={}, idempotent=False)
    assert caught.value.maybe_applied is True
    assert len(vendor.calls) == 1
