"""`escalator demo` as an audience sees it: the shipped playbook on the embedded default, a fake Zendesk, and a
virtual morning showing a warning, a breach moving a ticket up, a progress update and a resolution summary."""

from __future__ import annotations

import io
import re

from escalator.plugin.demo import run_demo


def test_the_demo_tells_a_morning_of_escalations_in_seconds() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    morning = text[text.index("on a virtual clock") :]
    steps = re.split(r"\n  \+\d:\d\d  ", morning)[1:]
    assert len(steps) == 6
    opened, warning, breach, hold, progress, solved = steps
    assert "reply to customer: Thanks for your patience. Your ticket has gone to our Technical Specialists" in opened
    assert "internal note: SLA warning: 75% of the first response time" in warning
    assert "internal note: SLA breached" in breach and "now: group Tier 3, priority urgent" in breach
    assert "reply to customer" not in hold, "the agent's own answer; Escalator stays quiet"
    assert 'reply to customer: A quick update on "Reports page times out"' in progress
    assert "reply to customer: Good news: we've resolved" in solved
    assert "None" not in text and "priority not set -> urgent" in text
    assert "answered 401" in text and "answered 200 (duplicate)" in text
