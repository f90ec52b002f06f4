"""What incident templates render with: the incident (how many tickets, which customers and organizations),
and for a customer's notice or resolution, who that customer is. Every other placeholder renders empty, so
an admin's incident template fails only on a typo (the loader), never on a missing ticket detail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalator.rules.messages import home_zone, unit_context
from escalator.rules.policy import IncidentRule, Policy
from escalator.rules.telling import babel_locale, when, zone_of
from escalator.rules.templates import PLACEHOLDERS, Blank


@dataclass(frozen=True)
class Member:
    """An affected ticket, as remembered when it joined (no help desk read is needed to tell its customer)."""

    ticket_id: str
    subject: str = ""
    name: str = ""
    email: str = ""
    locale: str = ""
    time_zone: str = ""
    organization: str = ""

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""

    def to_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in vars(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Member:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: str(value or "") for key, value in data.items() if key in known})


@dataclass(frozen=True)
class IncidentFacts:
    id: str
    opened_at: datetime
    problem_id: str | None
    members: Sequence[Member] = field(default_factory=tuple)


def _blank(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _blank(value) if isinstance(value, Mapping) else "" for key, value in tree.items()}


def incident_context(
    policy: Policy, rule: IncidentRule, facts: IncidentFacts, member: Member | None, resolution: str = ""
) -> dict[str, Any]:
    """The context for one of the rule's templates; `member`: the customer the message is for (None for the
    problem ticket's subject and handoff note); `resolution`: what the problem's solving comment said."""
    context = _blank(PLACEHOLDERS)
    home = home_zone(policy)
    zone, locale = zone_of(member.time_zone if member else None, home), babel_locale(member.locale if member else None)
    customers = sorted({m.name or m.email for m in facts.members if m.name or m.email})
    organizations = sorted({m.organization for m in facts.members if m.organization})
    context["incident"] = {
        "id": facts.id,
        "count": len(facts.members),
        "rule": rule.id,
        "problem_id": facts.problem_id or "",
        "opened_at": when(facts.opened_at, locale, zone),
        "customers": customers,
        "organizations": organizations,
        "tickets": [m.ticket_id for m in facts.members],
    }
    context["tier"] = unit_context(policy.unit(rule.escalate_to))
    context["rule"] = {"id": rule.id}
    context["organization"]["fields"] = Blank()
    context["organization"]["tags"] = []
    context["notes"], context["segments"] = [], []
    context["resolution"] = {"comment": resolution}
    if member is not None:
        context["ticket"].update(id=member.ticket_id, subject=member.subject)
        context["requester"].update(
            name=member.name, first_name=member.first_name, email=member.email, locale=member.locale,
            time_zone=member.time_zone,
        )  # fmt: skip
        context["organization"]["name"] = member.organization
    return context


def render(policy: Policy, template: str, context: Mapping[str, Any], locale: str | None = None) -> str:
    return policy.templates[template].render(context, locale)
