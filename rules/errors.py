"""Load-time problems in a rules file, each tied to the JSON path of the offending value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class RuleProblem:
    path: str
    message: str

    def format(self, filename: str) -> str:
        return f"{filename}: {self.path}: {self.message}"


class PolicyError(Exception):
    """A rules file that cannot be used; it carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[RuleProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (_path_key(p.path), p.message))
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in self.problems))


def _path_key(path: str) -> list[str]:
    # Sort `[10]` after `[9]` by padding numbers.
    return [part.zfill(6) if part.isdigit() else part for part in path.replace("[", ".").replace("]", "").split(".")]


def suggest(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close name exists, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def child(path: str, key: str | int) -> str:
    """JSON path of a member or an index: `$.a` + `b` -> `$.a.b`, + 0 -> `$.a[0]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}['{key}']"
