"""`escalator demo`: a short scripted day on the embedded default against the built-in fake Zendesk.

Everything is real except the help desk: signed webhooks over HTTP into the receiver, the RQ worker, the
rules, and write-back through the Zendesk API client to the fake.
"""

from __future__ import annotations

import json
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import TextIO

import requests
from werkzeug.serving import make_server

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config, TenantConfig
from escalator.plugin.demo_morning import VirtualMorning, gist
from escalator.plugin.embedded import EmbeddedService
from escalator.plugin.jobs import wait_quiet
from escalator.plugin.runtime import Runtime

TENANT = "demo"
SECRET = "demo-webhook-secret"


def seed_policy_path() -> Path:
    return Path(str(resources.files("escalator.rules").joinpath("seed-policy.json")))


def demo_config(base_url: str) -> Config:
    tenant = TenantConfig(
        name=TENANT,
        vendor="zendesk",
        base_url=base_url,
        auth={"email": "escalator@acme.example", "api_token": "demo-token"},
        webhook_secret=SECRET,
        rules_path=seed_policy_path(),
        rate_limit={"requests_per_minute": 700, "ticket_updates_per_minute": 100},
    )
    return Config(tenants={TENANT: tenant})


class DemoDay:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.desk = FakeZendesk(webhook_secret=SECRET)
        self.desk.start()
        self.service = EmbeddedService(demo_config(self.desk.base_url))
        self.runtime: Runtime = self.service.start()
        self.server = make_server("127.0.0.1", 0, create_app(self.runtime), threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.desk.webhook_url = f"http://127.0.0.1:{self.server.server_port}/webhooks/zendesk/{TENANT}"

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def settle(self) -> list[int]:
        """Deliver what the help desk has to send, let the worker finish, and repeat for the echoes."""
        statuses: list[int] = []
        for _ in range(5):
            if not self.desk.pending_webhooks():
                break
            statuses += self.desk.flush_webhooks()
            wait_quiet(self.runtime, TENANT, timeout=15)
        return statuses

    def story(self, ticket_id: int) -> None:
        ticket = self.desk.tickets[ticket_id]
        writes = [write for write in self.desk.writes if write["ticket_id"] == ticket_id]
        self.say(f'  #{ticket_id} "{ticket["subject"]}"')
        self.say(
            f"    now: group {self.desk.groups.get(ticket['group_id'], '-')}, priority {ticket['priority'] or '-'}, "
            f"{len(writes)} update(s) written by Escalator"
        )
        for raw in reversed(self.runtime.redis.lrange(keys.journal(TENANT, str(ticket_id)), 0, -1)):
            for reason in json.loads(raw)["reasons"]:
                self.say(f"    why: {reason}")
        for write in writes:
            comment = write.get("comment")
            if comment:
                kind = "reply to customer" if comment["public"] else "internal note"
                first_line = gist(comment["body"]) if comment["public"] else comment["body"].splitlines()[0]
                self.say(f"    {kind}: {first_line[:110]}{'...' if len(first_line) > 110 else ''}")
        if not writes:
            self.say("    no rule matched: Escalator left it alone")

    def run(self) -> int:
        desk = self.desk
        globex = desk.add_organization("Globex", ["standard"])
        initech = desk.add_organization("Initech", ["enterprise"])
        jane = desk.add_user("Jane Doe", "jane@globex.example", organization_id=globex)
        bob = desk.add_user("Bob Stone", "bob@globex.example", organization_id=globex)
        ivy = desk.add_user("Ivy Chen", "ivy@initech.example", organization_id=initech)
        carol = desk.add_user("Carol Diaz", "carol@globex.example", organization_id=globex)

        self.say("Escalator demo: the seed policy on the embedded default, against a built-in fake Zendesk.\n")
        scripted = [
            desk.create_ticket("Outage: cannot log in", "Since 9am none of our team can sign in.", jane),
            desk.create_ticket("How do I export a CSV report?", "Where is the export button?", bob),
            desk.create_ticket("Question about SSO setup", "We are configuring SAML and have questions.", ivy),
            desk.create_ticket("Invoice 4411", "There is a billing error on our last invoice.", carol),
        ]
        first_delivery = desk.pending_webhooks()[0]
        self.settle()
        self.say("Tickets opened this morning:")
        for ticket in scripted:
            self.story(ticket["id"])

        self.say("\nThe help desk delivers the first webhook again (a retry):")
        status = desk.deliver(first_delivery)
        wait_quiet(self.runtime, TENANT)
        self.say(
            f"  answered {status} (duplicate), nothing written twice: "
            f"{len([w for w in desk.writes if w['ticket_id'] == scripted[0]['id']])} update(s) on #{scripted[0]['id']}"
        )

        self.say("\nSomeone posts a forged webhook:")
        forged = requests.post(
            desk.webhook_url or "",
            data=b'{"type": "zen:event-type:ticket.created"}',
            headers={
                "X-Zendesk-Webhook-Signature": "Zm9yZ2Vk",
                "X-Zendesk-Webhook-Signature-Timestamp": "2026-01-01T00:00:00Z",
            },
            timeout=5,
        )
        self.say(f"  answered {forged.status_code}: {forged.json()['error']}")

        self.say("\nLater, the customer on the CSV ticket writes back about a security breach:")
        desk.customer_comment(scripted[1]["id"], "Update: we think this is a security breach, strange logins.")
        self.settle()
        self.story(scripted[1]["id"])

        VirtualMorning(desk, self.runtime, TENANT, self.settle, self.say).run(ivy)

        counters = {keys.as_text(k): int(v) for k, v in self.runtime.redis.hgetall(keys.metrics(TENANT)).items()}
        self.say(
            f"\nTotals: {counters.get('events', 0)} events decided, {counters.get('escalations', 0)} escalations, "
            f"{counters.get('replies', 0)} customer replies, {counters.get('notes', 0)} internal notes, "
            f"{counters.get('writes', 0)} Zendesk updates."
        )
        return 0

    def close(self) -> None:
        self.server.shutdown()
        self.service.stop()
        self.desk.stop()


def run_demo(out: TextIO) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    day = DemoDay(out)
    try:
        return day.run()
    finally:
        day.close()
