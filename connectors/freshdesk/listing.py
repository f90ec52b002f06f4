"""Freshdesk's ticket list, oldest update first, paged and resumable: what backfill/reconcile (admin) and the
history export both walk.

`GET /api/v2/tickets?updated_since=<ISO>&order_by=updated_at&order_type=asc&per_page=100&page=N` serves at
most LIST_MAX_PAGE pages for one query; past that the walk starts a new query from the newest update seen.
Each page comes with the checkpoint the walk continues from after it, so an interrupted walk resumes there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalator.connectors.errors import PermanentError
from escalator.connectors.http import VendorHttp
from escalator.rules.model import format_instant, parse_instant

LIST_PAGE_SIZE = 100
LIST_MAX_PAGE = 300
"""Freshdesk serves at most this many pages for one list query."""


@dataclass
class ListedPage:
    tickets: list[dict[str, Any]]
    """The page's tickets as Freshdesk lists them (deleted and spam ones included)."""
    checkpoint: str
    """Where the walk continues after this page (the last page's checkpoint repeats the query)."""
    end: bool
    newest: datetime | None
    """The newest `updated_at` on the page."""


def updated_tickets(
    http: VendorHttp,
    *,
    since: datetime,
    checkpoint: str | None,
    include: str,
    pace: Callable[[], None] = lambda: None,
) -> Iterator[ListedPage]:
    """Every ticket updated since `since` (or from `checkpoint`), a page at a time; `pace` is called before
    each list call."""
    if checkpoint:
        saved = json.loads(checkpoint)
        updated_since, page = str(saved["updated_since"]), int(saved["page"])
    else:
        updated_since, page = format_instant(since.replace(microsecond=0)), 1
    while True:
        pace()
        listed = http.request(
            "GET",
            "/api/v2/tickets",
            params={
                "updated_since": updated_since,
                "order_by": "updated_at",
                "order_type": "asc",
                "per_page": LIST_PAGE_SIZE,
                "page": page,
                "include": include,
            },
        )
        if not isinstance(listed, list):
            raise PermanentError(f"GET /api/v2/tickets: expected a list, got {type(listed).__name__}")
        end = len(listed) < LIST_PAGE_SIZE
        stamps = [parse_instant(item.get("updated_at")) for item in listed if isinstance(item, dict)]
        newest = max((stamp for stamp in stamps if stamp is not None), default=None)
        if end:
            next_since, next_page = updated_since, page
        elif page >= LIST_MAX_PAGE and newest is not None:
            next_since, next_page = format_instant(newest), 1
        else:
            next_since, next_page = updated_since, page + 1
        mark = json.dumps({"updated_since": next_since, "page": next_page}, separators=(",", ":"))
        yield ListedPage(listed, mark, end, newest)
        if end:
            return
        updated_since, page = next_since, next_page
