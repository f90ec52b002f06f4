"""What a finished ticket changes, and how a batch of finished tickets becomes one script call.

A worker decides a batch of tickets and records all of them in one step (plugin.queue_scripts.FINISH): each
ticket's state, inbox, journal and comment ledger, plus the tenant-wide side (counters, KPI aggregates,
history facts, timers, dead letters). Counter increments of the batch are summed first, so a batch of a
hundred "nothing matched" decisions costs one HINCRBY per counter, not a hundred.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Op:
    """One aggregate update in a finish: H(INCRBY) key field n, L (RPUSH) key value, S (SADD) key member,
    Z(ADD) key score member, T(rim: ZREMRANGEBYSCORE -inf) key max, X (EXPIRE) key seconds."""

    code: str
    key: str
    a: str | int | float = ""
    b: str | int | float = ""


@dataclass
class Finish:
    """What a finished ticket changes (see `EventQueue.finish_many`)."""

    state_json: str = ""
    """The ticket's new state ('' keeps the old one)."""
    dead: Sequence[tuple[str, str]] = ()
    """(raw event, error) to dead-letter."""
    attempts: int | None = None
    journal: str = ""
    """A journal entry (JSON) for the decision, '' for none."""
    ops: Sequence[Op] = ()
    """Counters and aggregates to update with the state (operational counters, KPIs, history facts)."""
    arm: Sequence[tuple[str, float]] = ()
    """(timer key, due) to arm or move."""
    cancel: Sequence[str] = ()
    """Timer keys to cancel."""
    sent: Sequence[str] = ()
    """Comment ledger keys whose comment reached the help desk in this pass (plugin.ledger)."""


@dataclass(frozen=True)
class Finished:
    """One ticket's part of a batch finish."""

    ticket_id: str
    consumed: int
    """Inbox events the decision covered (dropped from the inbox)."""
    done: Finish


def merged_ops(finishes: Sequence[Finish]) -> list[Op]:
    """The batch's operations, increments of the same counter summed (in first-seen order); the others (lists,
    sets, expiries, history entries) kept in order."""
    sums: dict[tuple[str, str], int] = {}
    ops: list[Op | tuple[str, str]] = []
    for done in finishes:
        for op in done.ops:
            if op.code != "H":
                ops.append(op)
                continue
            slot = (op.key, str(op.a))
            if slot not in sums:
                sums[slot] = 0
                ops.append(slot)
            sums[slot] += int(op.b)
    merged: list[Op] = []
    for item in ops:
        if isinstance(item, Op):
            merged.append(item)
        elif sums[item]:
            merged.append(Op("H", item[0], item[1], sums[item]))
    return merged


def finish_args(finished: Sequence[Finished]) -> tuple[list[Any], list[Any]]:
    """FINISH's ARGV from its 10th argument on: (the five counts, then the per-ticket sections followed by the
    batch's dead letters, operations, timers to arm and timers to cancel)."""
    tickets: list[Any] = []
    for item in finished:
        tickets += [item.ticket_id, item.consumed, item.done.state_json, item.done.journal, len(item.done.sent)]
        tickets += list(item.done.sent)
    dead = [dead_letter(raw, error, item.done.attempts) for item in finished for raw, error in item.done.dead]
    ops = [value for op in merged_ops([item.done for item in finished]) for value in (op.code, op.key, op.a, op.b)]
    arm = [value for item in finished for key, due in item.done.arm for value in (due, key)]
    cancel = [key for item in finished for key in item.done.cancel]
    counts = [len(finished), len(dead), len(ops) // 4, len(arm) // 2, len(cancel)]
    return counts, [*tickets, *dead, *ops, *arm, *cancel]


def dead_letter(raw: Any, error: str, attempts: int | None = None) -> str:
    """A dead-letter entry: the event (kept as text when it is not JSON, so an admin still sees what it was),
    why it failed, when, and after how many attempts."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        event: Any = json.loads(text)
    except ValueError:
        event = {"unreadable": text[:2000]}
    return json.dumps({"error": error[:2000], "event": event, "buried_at": time.time(), "attempts": attempts})
