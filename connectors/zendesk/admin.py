"""Zendesk for the admin commands: who we are, the event-subscription webhook, and the incremental export.

Webhooks API: `GET /api/v2/webhooks` (cursor pages: `meta.has_more`, `links.next`), `POST /api/v2/webhooks`,
`PATCH /api/v2/webhooks/{id}`, `GET /api/v2/webhooks/{id}/signing_secret` ->
`{"signing_secret": {"algorithm": "SHA256", "secret": ...}}`. A webhook is either subscribed to events or
connected to triggers (`conditional_ticket_events`), never both.

Incremental export: `GET /api/v2/incremental/tickets/cursor.json?start_time=<epoch>`, then `?cursor=` with the
`after_cursor` of the last page (also after `end_of_stream`, to pick up later changes); up to 1,000 tickets a
page; 10 requests a minute per account; the most recent minute is never returned; deleted tickets come with
status `deleted`. `include=metric_sets` sideloads each ticket's metrics (`replies`, `reply_time_in_seconds`),
from which the first agent reply is dated; an answer without them only leaves that reply undated (the
first-response clock then runs from the ticket's history alone).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from escalator.connectors.admin import AccessProblem, ExportPage, Identity, TicketRecord, TimedComment, masked
from escalator.connectors.base import InstallStep
from escalator.connectors.errors import PermanentError
from escalator.connectors.zendesk import values
from escalator.connectors.zendesk.api import ZendeskClient
from escalator.rules.model import Comment, parse_instant

WEBHOOK_EVENTS: tuple[str, ...] = (
    "ticket.created",
    "ticket.comment_added",
    "ticket.status_changed",
    "ticket.priority_changed",
    "ticket.group_assignment_changed",
    "ticket.agent_assignment_changed",
    "ticket.tags_changed",
    "ticket.organization_changed",
)
"""The ticket events the README tells admins to subscribe to (each is one the receiver understands)."""
SUBSCRIPTIONS: tuple[str, ...] = tuple(f"zen:event-type:{name}" for name in WEBHOOK_EVENTS)
WEBHOOK_FIELDS = ("name", "endpoint", "http_method", "request_format", "status", "subscriptions")
"""The fields of our webhook `install` owns: anything else an admin set on it (a description) is left alone."""
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
EXPORT_PAGE_SIZE = 1000
EXPORTS_PER_MINUTE = 10
"""Zendesk's limit on incremental export calls (30 with the High Volume add-on)."""


def webhook_name(tenant: str) -> str:
    return f"Escalator ({tenant})"


def webhook_spec(tenant: str, endpoint: str) -> dict[str, Any]:
    """The event-subscription webhook `install` creates: POST, JSON, active, the README's ticket events."""
    return {
        "name": webhook_name(tenant),
        "endpoint": endpoint,
        "http_method": "POST",
        "request_format": "json",
        "status": "active",
        "subscriptions": list(SUBSCRIPTIONS),
    }


def webhook_changes(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields to PATCH so `existing` becomes `wanted` (subscriptions compared as sets)."""
    changes: dict[str, Any] = {}
    for key in WEBHOOK_FIELDS:
        have, want = existing.get(key), wanted[key]
        same = sorted(have or []) == sorted(want) if key == "subscriptions" else have == want
        if not same:
            changes[key] = want
    return changes


class ZendeskAdmin:
    """The set-up calls, through the tenant's client (its auth, rate limit and retries)."""

    def __init__(self, client: ZendeskClient) -> None:
        self.client = client
        self.http = client.http

    def whoami(self) -> Identity:
        try:
            user = self.http.request("GET", "/api/v2/users/me.json")["user"]
        except PermanentError as error:
            raise _access_problem(error) from None
        if not user.get("id"):
            # Zendesk answers an anonymous user rather than 401 to a request it could not authenticate at all.
            raise AccessProblem("credentials", "wrong credentials: Zendesk does not know this user or token")
        identity = Identity(str(user["id"]), str(user.get("name") or ""), str(user.get("email") or ""), user["role"])
        if identity.role != "admin":
            raise AccessProblem(
                "permissions",
                f"{identity.email or identity.name} is a Zendesk {identity.role}: the user needs admin rights "
                "(webhooks, the incremental export)",
            )
        return identity

    def groups(self) -> dict[str, str]:
        try:
            return self.client.groups(refresh=True)
        except PermanentError as error:
            raise _access_problem(error) if error.status in (401, 403) else error from None

    def webhooks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url: str | None = "/api/v2/webhooks"
        params: dict[str, Any] | None = {"page[size]": 100}
        while url:
            try:
                page = self.http.request("GET", url, params=params)
            except PermanentError as error:
                raise _access_problem(error) if error.status in (401, 403) else error from None
            found.extend(page.get("webhooks") or [])
            more = (page.get("meta") or {}).get("has_more")
            url, params = ((page.get("links") or {}).get("next"), None) if more else (None, None)
            if url and not url.startswith(self.http.base_url + "/"):
                raise PermanentError(f"refusing to follow a webhooks page on another host: {url}")
        return found

    def find_webhook(self, tenant: str, endpoint: str) -> dict[str, Any] | None:
        """Ours: the one delivering to our endpoint, else the one with our name (its endpoint moved)."""
        hooks = self.webhooks()
        return next((hook for hook in hooks if hook.get("endpoint") == endpoint), None) or next(
            (hook for hook in hooks if hook.get("name") == webhook_name(tenant)), None
        )

    def create_webhook(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.http.request("POST", "/api/v2/webhooks", json={"webhook": dict(spec)}, idempotent=False)
        return dict(answer["webhook"])

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> None:
        # Setting fields to values: safe to repeat.
        self.http.request("PATCH", f"/api/v2/webhooks/{webhook_id}", json={"webhook": dict(changes)})

    def signing_secret(self, webhook_id: str) -> str:
        answer = self.http.request("GET", f"/api/v2/webhooks/{webhook_id}/signing_secret")
        return str(answer["signing_secret"]["secret"])

    def install(self, step: InstallStep) -> None:
        """The webhook, then the sidebar app's settings (when the app is installed or configured)."""
        self.install_webhook(step)
        self.install_app(step)

    def install_webhook(self, step: InstallStep) -> None:
        """The event-subscription webhook to our endpoint (found by endpoint or name, created or brought up to
        date), then its signing secret compared with the configured one."""
        spec = webhook_spec(step.tenant, step.webhook_url)
        existing = self.find_webhook(step.tenant, step.webhook_url)
        events = f"{len(WEBHOOK_EVENTS)} ticket events"
        if existing is None:
            would = " would be created" if step.dry_run else ""
            step.line("create", f'webhook "{spec["name"]}" -> {step.webhook_url} ({events}){would}')
            if step.dry_run:
                step.line("next", "run without --dry-run, then set the webhook's signing secret")
                return
            existing = self.create_webhook(spec)
        else:
            changes = webhook_changes(existing, spec)
            if changes:
                described = ", ".join(_describe(key, existing.get(key), value) for key, value in changes.items())
                step.line("update", f"webhook {existing['id']}: {described}{' would be changed' * step.dry_run}")
                if not step.dry_run:
                    self.update_webhook(str(existing["id"]), changes)
            else:
                step.line("ok", f'webhook "{existing.get("name")}" ({existing["id"]}) -> {step.webhook_url} ({events})')
        compare_secret(step, self.signing_secret(str(existing["id"])))

    # --- the sidebar app (plugin.zendesk_app) -----------------------------------------------------------------

    def installations(self) -> list[dict[str, Any]]:
        try:
            answer = self.http.request("GET", "/api/v2/apps/installations.json")
        except PermanentError as error:
            raise _access_problem(error) if error.status in (401, 403) else error from None
        return [item for item in (answer or {}).get("installations") or [] if isinstance(item, dict)]

    def app_public_key(self, app_id: int) -> str:
        """The app's RS256 public key, PEM (the endpoint answers the key itself, not JSON)."""
        path = f"/api/v2/apps/{app_id}/public_key.pem"
        pem = str(self.http.request("GET", path, text="application/x-pem-file, text/plain"))
        if "BEGIN PUBLIC KEY" not in pem:
            raise PermanentError(f"GET {path}: 200, no public key", 200)
        return pem.strip() + "\n"

    def install_app(self, step: InstallStep) -> None:
        """Find this tenant's installation of the Escalator app and its public key, and say whether the
        configured `zendesk_app` holds them; print the settings to add when not (the configuration file is
        never written). Says nothing when the app is neither installed nor configured: it is optional."""
        configured = step.settings.options.get("zendesk_app")
        mine = find_installation(self.installations(), step.tenant)
        if mine is None:
            if configured:
                step.problem(
                    "zendesk_app is configured but Zendesk lists no installation of the Escalator app for "
                    f"{step.tenant}: install it (escalator app package {step.tenant}), then run install again"
                )
            return
        installation_id, app_id = int(mine["id"]), int(mine["app_id"])
        if not mine.get("enabled", True):
            step.line("warn", f"the Escalator app (installation {installation_id}) is disabled in Zendesk")
        public_key = self.app_public_key(app_id)
        wanted = {"installation_id": installation_id, "public_key": public_key}
        if isinstance(configured, Mapping) and _same_app(configured, wanted):
            step.line("ok", f"zendesk_app: installation {installation_id} of app {app_id}, public key matches")
            return
        snippet = json.dumps({"zendesk_app": wanted})[1:-1]
        step.line("next", f"add to tenants.{step.tenant} in the configuration, then restart serve: {snippet}")


APP_NAME = "Escalator"
"""The app's name (its installations' title, unless an admin renamed one)."""
APP_TENANT_SETTING = "escalator_tenant"
"""The hidden setting a packaged app carries (plugin.zendesk_app): which tenant an installation is for."""


def find_installation(installations: list[dict[str, Any]], tenant: str) -> dict[str, Any] | None:
    """This tenant's installation: the one whose `escalator_tenant` setting names it, else the only one
    titled Escalator that names no tenant."""
    for item in installations:
        if str((item.get("settings") or {}).get(APP_TENANT_SETTING) or "") == tenant:
            return item
    untagged = [
        item
        for item in installations
        if (item.get("settings") or {}).get("name") == APP_NAME
        and not (item.get("settings") or {}).get(APP_TENANT_SETTING)
    ]
    return untagged[0] if len(untagged) == 1 else None


def _same_app(configured: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    def key(text: Any) -> str:
        return "".join(str(text or "").split())

    same_key = key(configured.get("public_key")) == key(wanted["public_key"])
    return same_key and configured.get("installation_id") == wanted["installation_id"]


def compare_secret(step: InstallStep, secret: str) -> None:
    """Is the configured `webhook_secret` the webhook's signing secret? Secrets are shown only as their last
    characters unless --show-secret."""
    variable = step.env_names.get("webhook_secret")
    where = f"the environment variable {variable}" if variable else "webhook_secret in the configuration"
    shown = secret if step.show_secret else masked(secret)
    if step.settings.webhook_secret == secret:
        step.line("ok", f"{where} holds the webhook's signing secret")
        return
    if step.settings.webhook_secret:
        step.problem(f"{where} does not hold the webhook's signing secret ({shown}): deliveries would get 401")
    else:
        step.line("next", f"set {where} to the webhook's signing secret ({shown}), then restart serve")
    if not step.show_secret:
        step.line("next", "run again with --show-secret to print the secret (nothing is written to disk)")


def _describe(key: str, before: object, after: object) -> str:
    if key == "subscriptions":
        return f"subscriptions -> {len(after) if isinstance(after, list) else after} ticket events"
    return f"{key} {before!r} -> {after!r}"


def _access_problem(error: PermanentError) -> AccessProblem | PermanentError:
    if error.status == 401:
        return AccessProblem("credentials", f"wrong credentials: Zendesk answered 401 ({error})")
    if error.status == 403:
        return AccessProblem("permissions", f"the user needs admin rights: Zendesk answered 403 ({error})")
    return error


# --- the incremental export ----------------------------------------------------------------------------------


def detail_from_ticket(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """A REST ticket in the shape of an event's `detail` (ids as strings), which the client decides from."""

    def text_id(key: str) -> str | None:
        return values.zendesk_id(ticket.get(key))

    return {
        "id": str(ticket["id"]),
        "subject": ticket.get("subject") or "",
        "description": ticket.get("description") or "",
        "status": ticket.get("status"),
        "priority": ticket.get("priority"),
        "type": ticket.get("type"),
        "group_id": text_id("group_id"),
        "assignee_id": text_id("assignee_id"),
        "requester_id": text_id("requester_id"),
        "submitter_id": text_id("submitter_id"),
        "organization_id": text_id("organization_id"),
        "brand_id": text_id("brand_id"),
        "tags": list(ticket.get("tags") or []),
        "via": ticket.get("via") or {},
        "is_public": ticket.get("is_public", True),
        "created_at": ticket.get("created_at"),
        "updated_at": ticket.get("updated_at"),
    }


def _first_reply(ticket: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> datetime | None:
    """Created + `reply_time_in_seconds` (or minutes) when the metric set records a public agent reply."""
    if not metrics or not metrics.get("replies"):
        return None
    created = parse_instant(ticket.get("created_at"))
    seconds = (metrics.get("reply_time_in_seconds") or {}).get("calendar")
    if seconds is None:
        minutes = (metrics.get("reply_time_in_minutes") or {}).get("calendar")
        seconds = minutes * 60 if isinstance(minutes, int | float) else None
    if created is None or not isinstance(seconds, int | float):
        return None
    return created + timedelta(seconds=float(seconds))


def ticket_record(ticket: Mapping[str, Any], metrics: Mapping[str, Any] | None = None) -> TicketRecord:
    raw_status = str(ticket.get("status") or "").lower()
    created = parse_instant(ticket.get("created_at")) or datetime.fromtimestamp(0, UTC)
    return TicketRecord(
        ticket_id=str(ticket["id"]),
        status="deleted" if raw_status == "deleted" else values.status(raw_status),
        created_at=created,
        updated_at=parse_instant(ticket.get("updated_at")) or created,
        group_id=values.zendesk_id(ticket.get("group_id")),
        first_reply_at=_first_reply(ticket, metrics),
        snapshot=detail_from_ticket(ticket),
    )


class ZendeskExport:
    """Zendesk's cursor-based incremental ticket export. `pace` is called before every export request so the
    caller can keep to Zendesk's 10 a minute (shared with every other process exporting for the tenant)."""

    def __init__(self, client: ZendeskClient, pace: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.http = client.http
        self.pace = pace

    def pages(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[ExportPage]:
        params: dict[str, Any] = {"per_page": EXPORT_PAGE_SIZE, "include": "metric_sets"}
        if checkpoint:
            params["cursor"] = checkpoint
        else:
            # Zendesk wants a start at least a minute in the past.
            latest = datetime.now(UTC) - timedelta(minutes=1)
            params["start_time"] = int(min(since, latest).timestamp())
        while True:
            self.pace()
            page = self.http.request("GET", EXPORT_PATH, params=params)
            metrics = {str(item.get("ticket_id")): item for item in page.get("metric_sets") or []}
            tickets = [ticket_record(ticket, metrics.get(str(ticket.get("id")))) for ticket in page.get("tickets", [])]
            cursor = page.get("after_cursor") or params.get("cursor") or ""
            end = bool(page.get("end_of_stream")) or not page.get("after_cursor")
            yield ExportPage(tickets, str(cursor), end)
            if end:
                return
            params = {"per_page": EXPORT_PAGE_SIZE, "include": "metric_sets", "cursor": cursor}

    def count_open(self) -> int | None:
        try:
            answer = self.http.request(
                "GET", "/api/v2/search/count.json", params={"query": "type:ticket status<solved"}
            )
        except PermanentError:
            return None
        count = answer.get("count") if isinstance(answer, dict) else None
        return int(count) if isinstance(count, int) else None

    def comments_since(self, ticket_id: str, since: datetime, limit: int = 10) -> list[TimedComment]:
        page = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}/comments.json",
            params={"sort_order": "desc", "per_page": limit, "include": "users"},
        )
        roles = {str(user["id"]): user.get("role") for user in page.get("users", [])}
        found: list[TimedComment] = []
        for item in page.get("comments", []):
            created = parse_instant(item.get("created_at"))
            if created is None or created <= since:
                continue
            author = str(item.get("author_id"))
            comment = Comment(
                body=item.get("plain_body") or item.get("body") or "",
                public=bool(item.get("public")),
                author="requester" if roles.get(author, "end-user") == "end-user" else "agent",
                author_id=author,
                id=str(item.get("id")),
            )
            found.append(TimedComment(comment, created))
        return sorted(found, key=lambda item: item.created_at)
