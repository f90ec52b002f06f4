"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright over the DevTools protocol,
against the real app served on a local port, with a real pipeline's tickets and 90 days of realistic daily
aggregates written through the worker's own code path (bench/dashboard.py `seed_kpis`).

It logs in through the form, waits for the page to say it has drawn everything, and checks that every chart's
canvas holds a drawing, that the tenant picker and the window switch work, that a dead letter is replayed by
its button (the POST with the session's CSRF token), and that the browser saw no console error, no uncaught
exception and no failed request. Screenshots go to the test's temporary folder; with
`ESCALATOR_DOCS_SCREENSHOTS=1` they also replace docs/dashboard*.png (the README's pictures).

Chromium comes from Debian (`apt-get install chromium`, which .ci/run does); Playwright never downloads one.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import expect, sync_playwright
from rq import SimpleWorker
from werkzeug.serving import make_server

from bench.dashboard import seed_kpis
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install
from tests.support import TENANT, Pipeline, tenant_config

ADMIN = "browser-admin-token-0123456789abcdef"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless Chromium as root, offline: without the background-networking flags it keeps dialling Google."""
CHARTS = ("chart-escalations", "chart-sla", "chart-tiers", "chart-bounces", "chart-rules", "chart-targets")
DOCS = Path(__file__).resolve().parent.parent / "docs"
VIEWPORT = {"width": 1440, "height": 900}

# How many of a canvas's pixels are not blank (read from a copy, so the page's own canvases are only drawn from):
# a drawn chart has thousands, an empty one none.
PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  const copy = document.createElement("canvas");
  copy.width = canvas.width;
  copy.height = canvas.height;
  const context = copy.getContext("2d", {willReadFrequently: true});
  context.drawImage(canvas, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  const chart = Chart.getChart(canvas);
  return {painted, width: canvas.width, points: chart ? chart.data.datasets.map((d) => d.data.length) : null,
          labels: chart ? chart.data.labels.length : 0};
}"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
    return found


@pytest.fixture
def served(redis_url: str, desk: FakeZendesk) -> Iterator[tuple[str, Pipeline]]:
    """The app on a real local port (threaded), two tenants, a real pipeline's tickets and 90 seeded days."""
    config = Config(
        tenants={TENANT: tenant_config(desk.base_url), "globex": tenant_config(desk.base_url, name="globex")},
        admin_token=ADMIN,
    )
    connection = redis.Redis.from_url(redis_url)
    runtime = Runtime(config, connection)
    install(runtime)
    app = create_app(runtime)
    pipe = Pipeline(desk, runtime, app.test_client(), connection)
    today = datetime.now(UTC).date()
    seed_kpis(connection, TENANT, days=90, until=today, per_day=60, now=datetime.now(UTC))
    seed_kpis(connection, "globex", days=90, until=today, per_day=15, seed=11, now=datetime.now(UTC))
    live_state(pipe)
    worker = SimpleWorker([QUEUE_NAME], connection=connection)
    worker.register_birth()  # registered and idle, as `escalator worker` is; it takes no job here
    worker.set_state("idle")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", pipe
    finally:
        server.shutdown()
        worker.register_death()
        install(None)
        connection.close()


def live_state(pipe: Pipeline) -> None:
    """Tickets through the real pipeline (timers armed), one waiting in the queue, three dead letters."""
    dana = pipe.desk.add_user("Dana Smith", "dana@shop.example")
    for subject, text in (("Outage", "Nobody can log in."), ("Invoice", "We were charged twice."), ("Export", "How?")):
        pipe.desk.create_ticket(subject, text, dana)
    pipe.settle()
    pipe.desk.create_ticket("Slow pages", "Since this morning.", dana)
    pipe.deliver_pending()
    for ticket, error in (
        ("4211", "PermanentError: PUT /api/v2/tickets/4211.json: 422 Priority is not a valid value"),
        ("4217", "TransientError: PUT /api/v2/tickets/4217.json: 503 Service Unavailable"),
        ("4230", "ConflictError: PUT /api/v2/tickets/4230.json: 409 ticket changed 3 times while deciding"),
    ):
        event = (
            f'{{"delivery_id": "zd-{ticket}", "kind": "ticket.updated", "ticket_id": "{ticket}", '
            f'"occurred_at": "{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}", "source": "webhook", "detail": {{}}}}'
        )
        pipe.runtime.queue.bury(TENANT, ticket, [event], error, attempts=10)


class Browser:
    """One page, with everything the browser complained about collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url} {req.failure}"))
        page.on("response", lambda answer: self._response(answer))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, answer: Any) -> None:
        expected = answer.url.endswith("/dashboard/login") and answer.status in (303, 401)
        if answer.status >= 400 and not expected:
            self.problems.append(f"HTTP {answer.status}: {answer.url}")

    def ready(self) -> None:
        self.page.wait_for_selector("#dashboard[data-ready='yes']", timeout=20_000)

    def painted(self, chart: str) -> dict[str, Any]:
        found: dict[str, Any] = self.page.evaluate(PAINTED, chart)
        return found


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        try:
            context = launched.new_context(viewport=VIEWPORT, device_scale_factor=1)
            yield Browser(context.new_page())
        finally:
            launched.close()


def test_the_dashboard_draws_its_charts_and_replays_a_dead_letter(
    served: tuple[str, Pipeline], browser: Browser, tmp_path: Path
) -> None:
    base, pipe = served
    page = browser.page
    page.goto(f"{base}/dashboard")
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That is not the admin token."
    assert [problem for problem in browser.problems if "401" not in problem] == []
    browser.problems.clear()  # the refused login's 401 was the one expected
    page.fill("#token", ADMIN)
    page.click("button[type=submit]")
    browser.ready()

    for chart in CHARTS:
        drawn = browser.painted(chart)
        assert drawn["width"] > 200 and drawn["painted"] > 2_000, f"{chart} is blank: {drawn}"
    escalations = browser.painted("chart-escalations")
    assert escalations["labels"] == 30 and escalations["points"] == [30, 30, 30], "a bar per day, 3 series"
    assert int(page.inner_text("#k-tickets")) > 1000
    dashes = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById("chart-sla"));
            const last = chart.data.labels.length - 1, dash = chart.data.datasets[0].segment.borderDash;
            return [dash({chart, p1DataIndex: last}) || null, dash({chart, p1DataIndex: last - 1}) || null];
        }"""
    )
    assert dashes == [[4, 4], None], "the line into today (a day still filling up) is dashed, the others not"
    assert "First response" in page.inner_text("#k-sla") and "%" in page.inner_text("#k-sla")
    assert page.locator("#tenant option").all_inner_texts() == [TENANT, "globex"], "a picker for two tenants"
    backlog = page.locator("#backlog tbody tr").first.inner_text().split("\t")
    assert backlog[:4] == [f"{TENANT} (zendesk)", "1", "0", "3"] and int(backlog[4]) > 0
    assert page.locator("#dead-letters tbody tr").count() == 3
    assert page.inner_text("#workers") == "Workers: 1 idle"
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    page.locator("#dead-letters tbody tr", has_text="4217").get_by_role("button", name="Replay").click()
    expect(page.locator("#status")).to_contain_text("Replayed 1 event(s) of ticket 4217")
    expect(page.locator("#dead-letters tbody tr")).to_have_count(2)
    assert [event.ticket_id for event in pipe.runtime.queue.pending(TENANT, "4217")] == ["4217"]

    page.select_option("#range", "365")
    browser.ready()
    year = browser.painted("chart-escalations")
    assert year["labels"] == 365 and year["painted"] > 2_000
    page.select_option("#range", "90")
    browser.ready()
    acme_tickets = int(page.inner_text("#k-tickets"))
    page.screenshot(path=str(tmp_path / "dashboard-90-days.png"), full_page=True)

    page.select_option("#tenant", "globex")
    browser.ready()
    assert page.url.endswith("#tenant=globex")
    assert "No dead letters" in page.inner_text("#dead-letters")
    assert 0 < int(page.inner_text("#k-tickets")) < acme_tickets / 2, "globex's own, smaller numbers"
    assert browser.painted("chart-sla")["painted"] > 2_000

    assert browser.problems == []
    if os.environ.get("ESCALATOR_DOCS_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "dashboard-90-days.png", DOCS / "dashboard.png")


def test_a_session_that_ended_says_so_instead_of_failing_silently(
    served: tuple[str, Pipeline], browser: Browser
) -> None:
    base, _ = served
    page = browser.page
    page.goto(f"{base}/dashboard")
    page.fill("#token", ADMIN)
    page.click("button[type=submit]")
    browser.ready()
    page.context.clear_cookies()
    page.select_option("#range", "7")
    expect(page.locator("#status")).to_contain_text("Your session has ended")
    assert [problem for problem in browser.problems if "401" not in problem] == []
