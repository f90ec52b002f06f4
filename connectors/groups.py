"""Tier and team groups named in rules files, resolved to the help desk's group ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from escalator.connectors.errors import PermanentError


def resolve_group(group: str | int, directory: Callable[[bool], Mapping[str, str]], desk: str) -> str:
    """A group given by id or by name (case-insensitively) as the desk's group id. The cached directory
    (id -> name) is read afresh once before an unknown name becomes a clear, permanent error."""
    text = str(group)
    for refresh in (False, True):
        groups = directory(refresh)
        if text in groups:
            return text
        for group_id, name in groups.items():
            if name.casefold() == text.casefold():
                return group_id
    raise PermanentError(f"{desk} has no group named '{text}' (create it or fix the rules file)", 404)
