"""Both fake help desks behind one fixture, and time passing on the real pipeline: the shipped playbook's
end-to-end tests run the same scenario on Zendesk and Freshdesk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin.clock import fire
from escalator.plugin.timers import TimerLoop
from tests.support import SECRET, Pipeline, pipeline
from tests.support import TENANT as ZENDESK_TENANT
from tests.support_freshdesk import TENANT as FRESHDESK_TENANT
from tests.support_freshdesk import FreshdeskPipeline, freshdesk_pipeline, new_desk

SEED = Path(__file__).parent.parent / "rules" / "seed-policy.json"
VENDORS = ("zendesk", "freshdesk")


def vendor_pipeline(
    vendor: str, redis_url: str, rules_path: Path = SEED
) -> Iterator[tuple[Pipeline | FreshdeskPipeline, str]]:
    """The pipeline on the vendor's fake help desk, with the tenant's name."""
    desk = (
        FakeZendesk(webhook_secret=SECRET, webhook_url="http://unused.invalid/") if vendor == "zendesk" else new_desk()
    )
    desk.start()
    try:
        if isinstance(desk, FakeZendesk):
            for pipe in pipeline(redis_url, desk, rules_path=rules_path):
                yield pipe, ZENDESK_TENANT
        else:
            for fd_pipe in freshdesk_pipeline(redis_url, desk, rules_path=rules_path):
                yield fd_pipe, FRESHDESK_TENANT
    finally:
        desk.stop()


def let_time_pass(pipe: Pipeline | FreshdeskPipeline, tenant: str, seconds: float) -> int:
    """`seconds` from now, as the timer loop and the worker live it: every timer due by then fires at its own
    instant and is processed (which may arm the next one: a warning, then the breach), until none is due.
    Returns how many fired."""
    loop = TimerLoop(pipe.runtime.timers(tenant), lambda fired: fire(pipe.runtime, fired))
    then, fired = time.time() + seconds, 0
    while handed := loop.run_once(now=then):
        fired += handed
        pipe.work()
        pipe.settle()
    return fired
