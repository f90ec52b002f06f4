"""What every connector shares about writing comments: never send a customer the same reply twice."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from escalator.connectors.base import CommentLedger
from escalator.rules.plan import Plan, PlannedComment


def same_text(left: str, right: str) -> bool:
    """Help desks re-wrap and re-space what we send; compare the words."""
    return " ".join(left.split()) == " ".join(right.split())


def unsent_comments(plan: Plan, ledger: CommentLedger, own_recent: Callable[[], Iterable[str]]) -> list[PlannedComment]:
    """Planned comments not yet sent. One whose earlier send went unanswered ("sending") may have landed:
    it is looked for among the texts our own user wrote recently (read once, only if needed) and, if found,
    marked sent instead of being sent again."""
    pending: list[PlannedComment] = []
    recent: list[str] | None = None
    for comment in plan.comments:
        state = ledger.state(comment.key)
        if state == "sent":
            continue
        if state == "sending":
            if recent is None:
                recent = list(own_recent())
            if any(same_text(text, comment.body) for text in recent):
                ledger.mark(comment.key, "sent")
                continue
        pending.append(comment)
    return pending
