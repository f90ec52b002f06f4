"""KPIs and monitoring counters, from what the real pipeline recorded in Redis."""

from __future__ import annotations

import json

from escalator.plugin.metrics import format_report, kpi_report
from tests.support import TENANT, Pipeline


def test_kpis_count_escalations_touches_and_sla_outcomes(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    outage = int(pipe.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)["id"])
    pipe.desk.create_ticket("How do I export?", "Where is the button?", jane)
    pipe.desk.create_ticket("Invoice", "There is a billing error on it.", jane)
    pipe.settle()
    pipe.desk.add_comment(outage, "Looking at it now", public=True, author_id=901)  # a human answers in time
    pipe.desk.agent_update(outage, status="solved")
    pipe.settle()

    report = kpi_report(pipe.redis, TENANT)
    assert (report.tickets, report.escalated) == (3, 2)
    assert report.escalation_rate == 2 / 3
    assert dict(report.escalations_by_rule) == {"outage-or-login": 1, "billing-error": 1}
    assert dict(report.escalations_by_target) == {"L2": 1, "finance": 1}
    assert report.touches_per_escalated == 0.5, "one human public reply over two escalated tickets"
    assert report.sla["first_response"]["met"] == 1 and report.sla["first_response"]["breached"] == 0
    assert report.attainment("first_response") == 1.0
    assert len(report.resolution_hours) == 1 and report.resolution_hours[0] >= 0
    assert report.counters["escalations"] == 2 and report.counters["replies"] == 3

    text = format_report(report)
    assert "escalated                            2 (66.7%)" in text
    assert "SLA first_response" in text and "100.0% met" in text
    assert json.loads(json.dumps(report.to_json()))["escalation_rate"] == 2 / 3


def test_metrics_endpoint_speaks_prometheus(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    pipe.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)
    pipe.settle()
    answer = pipe.client.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    lines = answer.get_data(as_text=True).splitlines()
    assert 'escalator_escalations_total{tenant="acme"} 1' in lines
    assert 'escalator_backlog{tenant="acme",state="ready"} 0' in lines
    assert "# TYPE escalator_timers_armed gauge" in lines
    armed = next(line for line in lines if line.startswith("escalator_timers_armed "))
    assert int(armed.split()[1]) == pipe.runtime.timers("acme").count() > 0
