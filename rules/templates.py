"""Customer and internal message templates: Jinja in a sandbox, placeholders checked at load time.

`{{ ticket.id }}`-style placeholders are what admins know from Zendesk and Freshdesk. A placeholder that
is not in PLACEHOLDERS is a load error, so a typo never reaches a customer as an empty gap.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from escalator.rules.errors import RuleProblem, child, suggest

PLACEHOLDERS: dict[str, Any] = {
    "ticket": {
        "id": None,
        "subject": None,
        "description": None,
        "priority": None,
        "status": None,
        "tags": None,
        "channel": None,
        "url": None,
    },
    "requester": {"name": None, "first_name": None, "email": None, "locale": None, "time_zone": None},
    "organization": {"name": None, "tags": None, "fields": None},
    "tier": {"id": None, "name": None},
    "previous_tier": {"id": None, "name": None},
    "moved": None,
    "assignee": {"name": None},
    "rule": {"id": None},
    "matched": None,
    "comment": {"body": None, "public": None},
    "sla": {"first_response": None, "resolution": None, "next_response": None},
    "deadline": {"first_response": None, "resolution": None, "next_response": None},
    "deadline_internal": {"first_response": None, "resolution": None, "next_response": None},
    "next_update": None,
    "escalation": {
        "count": None,
        "source": None,
        "target": None,
        "by": None,
        "reason": None,
        "rule": None,
        "agent": None,
    },
    "alert": {"metric": None, "percent": None, "due": None},
    "notes": None,
    "resolution": {"comment": None},
    "trail": None,
    "segments": None,
    "bounces": None,
    "touches": None,
    "pause": {"count": None, "reason": None, "paused_for": None},
    "incident": {
        "id": None,
        "count": None,
        "rule": None,
        "problem_id": None,
        "opened_at": None,
        "customers": None,
        "organizations": None,
        "tickets": None,
    },
}
"""The placeholder tree: a dict is an object whose members may be used, None a leaf value."""


class Blank(dict[str, Any]):
    """A mapping whose missing keys read as "" (an organization field nobody filled in)."""

    def __missing__(self, key: str) -> str:
        return ""


_PLAIN_MAPPINGS: tuple[type, ...] = (dict, Blank)
"""The mappings message contexts are made of (rules.messages)."""
_MAPPING_ATTRIBUTES = frozenset(dir(Blank))


class _MessageEnvironment(ImmutableSandboxedEnvironment):
    """Immutable: a template may read the context, never change it (no `ticket.update(...)`). Two shortcuts,
    each with the sandbox's own answers (a rendering is a tenth of a decision):

    - `ticket.id` on one of the context's plain dicts reads the key at once. The sandbox tries the attribute
      first and reads the key only after an AttributeError, which costs more than the lookup; a name that is
      an attribute of the mapping (`items`, `get`) still goes the sandbox's way, so it means what it did.
    - a template's globals are a plain dict of the environment's (never changed after start) instead of a
      ChainMap, which every rendering iterated twice to build its context."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in _PLAIN_MAPPINGS and attribute not in _MAPPING_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


_ENV = _MessageEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Template:
    """Compiling a template costs ~100x rendering it; sources are few and fixed per policy."""
    return _ENV.from_string(source)


@lru_cache(maxsize=4096)
def _free_names(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(_ENV.parse(source)))


def _dotted_paths(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, sub in tree.items():
        paths.append(prefix + key)
        if isinstance(sub, dict):
            paths.extend(_dotted_paths(sub, prefix + key + "."))
    return paths


ALL_PLACEHOLDERS = _dotted_paths(PLACEHOLDERS)


def _chain(node: nodes.Node) -> list[str] | None:
    """`requester.first_name` -> ["requester", "first_name"]; None when the root is not a plain name."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return list(reversed(parts))
        else:
            return None


def _check_placeholders(source: str, path: str, problems: list[RuleProblem]) -> None:
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as error:
        problems.append(RuleProblem(path, f"template syntax error on line {error.lineno}: {error.message}"))
        return
    local_names = {target.name for target in tree.find_all(nodes.Name) if target.ctx in ("store", "param")}
    if any(True for _ in tree.find_all(nodes.For)):
        local_names.add("loop")  # Jinja's loop helper (`loop.index`) inside `{% for %}`
    local_names.update(_ENV.globals)  # range, dict, namespace, ...
    reported: set[str] = set()
    for attribute in tree.find_all(nodes.Getattr):
        if attribute.attr.startswith("_") and attribute.attr not in reported:
            # The sandbox refuses these at render time too; refusing at load keeps a probe off the customer path.
            problems.append(RuleProblem(path, f"'{attribute.attr}' is not allowed in a template (private attribute)"))
            reported.add(attribute.attr)
    # Outermost chains first: `a.b.c` is checked whole; its inner `a.b` reports the same name, once.
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        chain = _chain(node)
        if chain is None or chain[0] in local_names or (isinstance(node, nodes.Name) and node.ctx != "load"):
            continue
        level: Any = PLACEHOLDERS
        for depth, part in enumerate(chain):
            if not isinstance(level, dict):
                break  # members of a leaf value (e.g. string methods) are the sandbox's business
            if part not in level:
                name = ".".join(chain[: depth + 1])
                if name not in reported:
                    # Suggest among names of the same depth: `customer` is not a near miss of `incident.customers`.
                    peers = {".".join(known.split(".")[: depth + 1]) for known in ALL_PLACEHOLDERS}
                    problems.append(RuleProblem(path, f"unknown placeholder '{name}'{suggest(name, peers)}"))
                    reported.add(name)
                break
            level = level[part]


@dataclass(frozen=True)
class MessageTemplate:
    """One template, possibly in several locales (`{"en": ..., "fr": ...}`); English or the first is the fallback."""

    name: str
    sources: Mapping[str, str]

    def render(self, context: Mapping[str, Any], locale: str | None = None) -> str:
        return _compiled(self.sources[self._picked(locale)]).render(context).strip()

    def names(self, locale: str | None = None) -> frozenset[str]:
        """The context names the template for `locale` reads (its free variables): a context needs no other."""
        return _free_names(self.sources[self._picked(locale)])

    @cached_property
    def _picks(self) -> dict[str | None, str]:
        return {}

    def _picked(self, locale: str | None) -> str:
        """`pick_locale`, remembered per requester locale (a handful per policy, asked for every message)."""
        try:
            return self._picks[locale]
        except KeyError:
            if len(self._picks) >= 256:
                self._picks.clear()  # bounded, whatever locales requesters carry
            found = self._picks[locale] = self.pick_locale(locale)
            return found
        except TypeError:  # not text (unhashable): asked afresh, failing as pick_locale fails
            return self.pick_locale(locale)

    def pick_locale(self, locale: str | None) -> str:
        """The requester's exact locale, else its language (`fr-CA` -> `fr`), else `default`, `en` or the first."""
        if locale:
            wanted = _locale_key(locale)
            for candidate in (wanted, wanted.split("-")[0]):
                for key in self.sources:
                    if _locale_key(key) == candidate:
                        return key
        if "default" in self.sources:
            return "default"
        return "en" if "en" in self.sources else next(iter(self.sources))


def _locale_key(locale: str) -> str:
    return locale.strip().replace("_", "-").lower()


def compile_template(
    name: str, spec: str | Mapping[str, str], path: str, problems: list[RuleProblem]
) -> MessageTemplate:
    sources = {"default": spec} if isinstance(spec, str) else dict(spec)
    for locale, source in sources.items():
        _check_placeholders(source, path if isinstance(spec, str) else child(path, locale), problems)
    return MessageTemplate(name, sources)
