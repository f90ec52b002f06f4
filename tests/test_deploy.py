"""The Grafana dashboard and the Prometheus alert rules under deploy/ query what `/metrics` really exposes.

Every PromQL expression is parsed (promql-parser, the grammar Prometheus uses) and every `escalator_*` series
it selects must be one `/metrics` serves; the other way round, every family `/metrics` serves is on the
dashboard, so neither side can drift unnoticed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.runtime import Runtime
from tests.support import TENANT, tenant_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "escalator-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "escalator-alerts.yml"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$tenant": ".*"}
"""What Grafana substitutes before the query reaches Prometheus."""
REQUIRED_ALERTS = {"EscalatorSlaBreachesRising", "EscalatorDeadLetters", "EscalatorNoWorker"}


def exposed(redis_url: str) -> set[str]:
    """Every series name `/metrics` serves (histograms as their _bucket/_sum/_count, counters with _total)."""
    runtime = Runtime(Config(tenants={TENANT: tenant_config("http://127.0.0.1:9")}), redis.Redis.from_url(redis_url))
    text = create_app(runtime).test_client().get("/metrics").get_data(as_text=True)
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, expression) for every panel target and query variable of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def selected_metrics(expression: str) -> set[str]:
    """The metric names an expression selects, from its syntax tree (a syntax error fails the test)."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    label_values = re.fullmatch(r"label_values\((\w+),\s*\w+\)", expression.strip())
    if label_values:  # Grafana's own function, not PromQL: its first argument is a metric
        expression = label_values[1]
    names: set[str] = set()
    _walk(promql_parser.parse(expression), names)
    return names


def _walk(node: Any, names: set[str]) -> None:
    if type(node).__name__ == "VectorSelector":
        names.add(node.name)
        return
    for attribute in ("lhs", "rhs", "expr", "args", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None and not isinstance(item, (str, int, float)):
                _walk(item, names)


def every_query() -> Iterator[tuple[str, str]]:
    yield from dashboard_queries()
    for rule in alert_rules():
        yield f"alert {rule['alert']}", rule["expr"]


def test_every_expression_parses_and_selects_only_what_metrics_serves(redis_url: str) -> None:
    served = exposed(redis_url)
    missing = {}
    for where, expression in every_query():
        names = selected_metrics(expression)
        assert names, f"{where}: selects no metric"
        unknown = {name for name in names if name.startswith("escalator_") and name not in served}
        if unknown:
            missing[where] = sorted(unknown)
        assert all(name.startswith("escalator_") for name in names), f"{where}: {names}"
    assert missing == {}


def test_every_family_metrics_serves_is_on_the_dashboard(redis_url: str) -> None:
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in exposed(redis_url)}
    on_dashboard = {
        re.sub(r"_(bucket|sum|count)$", "", name) for _, expr in dashboard_queries() for name in selected_metrics(expr)
    }
    assert families - on_dashboard == set()


def test_the_alert_rules_cover_the_essentials_and_say_what_to_do() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    assert len({rule["alert"] for rule in rules}) == len(rules), "alert names are unique"
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "tenant"} <= variables
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            if "tenant" in target["expr"] and "tenant=" in target["expr"]:
                assert 'tenant=~"$tenant"' in target["expr"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


@pytest.mark.parametrize("expression", ["sum(rate(escalator_events_total[5m])", "escalator_events_total[5m] +"])
def test_a_broken_expression_is_caught(expression: str) -> None:
    with pytest.raises(ValueError):
        selected_metrics(expression)
