"""Which planned comments reached the help desk: the guard against sending a customer anything twice.

The ledger of a ticket is a hash, comment key -> "sending" (tried, outcome unknown) or "sent". The rule that
keeps a customer from getting a reply twice: a comment is durably "sending" before it leaves. Everything
else may wait, so one pass writes the ledger in as few round trips as that rule allows:

- the ledger is read with the claim (plugin.queue), so asking about a comment costs nothing;
- before the first write-back, one round trip saves the decided plan (plugin.outbox) and marks every comment
  about to be tried "sending";
- "sent" is recorded by the ticket's finish. A crash before that leaves "sending", and the next pass looks
  for the comment among our own recent ones before sending it (connectors.comments) — one read, only then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

from escalator.plugin import keys

LEDGER_SECONDS = 30 * 24 * 3600
"""Longer than a decision can possibly be retried for."""


class PassLedger:
    """One ticket's comment ledger during one pass (connectors.base.CommentLedger)."""

    def __init__(self, client: redis.Redis, tenant: str, ticket_id: str, known: Mapping[str, str] | None) -> None:
        """`known`: the ledger as claimed; None reads it now (one round trip)."""
        self.redis = client
        self.tenant = tenant
        self.ticket_id = ticket_id
        self.key = keys.ledger(tenant, ticket_id)
        if known is None:
            known = {keys.as_text(k): keys.as_text(v) for k, v in client.hgetall(self.key).items()}
        self.known: dict[str, str] = dict(known)
        """What earlier passes left, updated with this pass's outcomes."""
        self.sent: list[str] = []
        """Keys sent in this pass, for the finish to record."""
        self._durable: set[str] = set()
        """Keys already durably "sending" in this pass."""

    def state(self, key: str) -> str | None:
        return self.known.get(key)

    def mark(self, key: str, state: str) -> None:
        self.known[key] = state  # a key in `known` was tried in this pass or an earlier one
        if state == "sent":
            if key not in self.sent:
                self.sent.append(key)
            return
        if key not in self._durable:  # a comment `before_writes` did not know of (a connector's own note)
            self._write(None, [key])

    def before_writes(self, outbox: str | None, comments: Iterable[str]) -> None:
        """One round trip before the first vendor write: save the decided plan (`outbox`, JSON; None keeps the
        saved one) and mark the comments not yet sent "sending"."""
        self._write(outbox, [key for key in comments if self.known.get(key) != "sent"])

    def discard(self, outbox: bool = True) -> None:
        """Nothing of the plan landed (the ticket changed under us): drop the saved plan and the marks this
        pass made, in one round trip, so the next decision starts clean."""
        pipe = self.redis.pipeline(transaction=False)
        if outbox:
            pipe.delete(keys.outbox(self.tenant, self.ticket_id))
        # Only marks of comments never tried, which no earlier pass had marked either: anything else may have
        # reached the customer and stays for the next pass to look for.
        unsent = [key for key in self._durable if key not in self.known]
        if unsent:
            pipe.hdel(self.key, *unsent)
        pipe.execute()
        self._durable -= set(unsent)

    def _write(self, outbox: str | None, sending: list[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        if outbox is not None:
            pipe.set(keys.outbox(self.tenant, self.ticket_id), outbox)
        if sending:
            pipe.hset(self.key, mapping=dict.fromkeys(sending, "sending"))
            pipe.expire(self.key, LEDGER_SECONDS)
        if outbox is not None or sending:
            pipe.execute()
        self._durable.update(sending)
