"""`escalator export TENANT --since 30d --out FILE`: the help desk's ticket history as a history file.

The vendor knowledge is the tenant's connector's (`Connector.history`: which endpoints, how a vendor's
updates become lines, its cursor); this module drives it: the export's pacing through the tenant's shared
export bucket (Zendesk's 10 incremental exports a minute, shared with backfill and reconciliation), the file,
the progress bar and the checkpoint.

Streaming and resuming. Lines go to disk as each chunk (one vendor page) arrives, and after each chunk the
checkpoint is saved in Redis (`esc:{<tenant>}:export`): the connector's cursor, the file and the number of
bytes written up to that chunk. An interrupted export (Ctrl-C, a crash, the help desk down) run again with
the same `--out` truncates the file to the last checkpoint's length, dropping a half-written chunk, and
continues from the cursor: the finished file is the one an uninterrupted export would have written (lines
of a second already written are recognised by the connector, not repeated). `--restart` starts over.
A 429 from the help desk's own limit is waited out and the export goes on from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from escalator.connectors.base import HistoryChunk
from escalator.connectors.errors import RateLimited
from escalator.plugin import keys
from escalator.plugin.admin import export_pacer, held_lock, say
from escalator.plugin.admin.progress import Progress
from escalator.plugin.ratelimit import Budget
from escalator.plugin.runtime import Runtime
from escalator.rules.model import format_instant, parse_instant

log = logging.getLogger(__name__)

LOCK_SECONDS = 120.0
"""An export holds the tenant's export lock this long per chunk (renewed); a crashed one frees it soon."""
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass
class ExportReport:
    lines: int = 0
    read: int = 0
    """Vendor records read (Zendesk ticket updates, Freshdesk tickets)."""
    chunks: int = 0
    resumed: bool = False
    reached: datetime | None = None


class ExportBusy(Exception):
    """Another export of the same tenant holds the lock."""


class _ExportProgress(Progress):
    """The backfill's progress line, counting lines and vendor records rather than tickets."""

    reached: datetime | None = None

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-6)
        through = f", through {format_instant(self.reached)}" if self.reached else ""
        text = (
            f"{self.label} {self.done:,} lines from {self.scanned:,} records{through} {self.scanned / elapsed:,.0f}/s"
        )
        return f"{text} - {self.note}" if self.note else text


class HistoryExportRun:
    def __init__(
        self,
        runtime: Runtime,
        tenant: str,
        out: Path,
        *,
        err: TextIO,
        say_to: TextIO,
        export_budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        interactive: bool | None = None,
    ) -> None:
        self.runtime, self.tenant = runtime, tenant
        self.out_path = out.resolve()
        self.err, self.say_to = err, say_to
        self.sleep = sleep
        self.key = keys.checkpoint(tenant, "export")
        self.report = ExportReport()
        self.progress = _ExportProgress(err, f"export {tenant}:", interactive=interactive)
        self.pacer = export_pacer(runtime, tenant, export_budget, on_wait=self._export_wait)

    def run(self, since: datetime, *, restart: bool = False) -> ExportReport:
        busy = ExportBusy(f"another export of {self.tenant} is running (lock {self.key}:lock)")
        what = f"export lock of {self.tenant}"
        with held_lock(self.runtime.redis, self.key + ":lock", LOCK_SECONDS, busy, what) as renew:
            return self._run(since, restart, renew=renew)

    def _run(self, since: datetime, restart: bool, renew: Callable[[], object]) -> ExportReport:
        saved = {keys.as_text(k): keys.as_text(v) for k, v in self.runtime.redis.hgetall(self.key).items()}
        report = self.report
        checkpoint = self._resumable(saved) if not restart else None
        if checkpoint is not None:
            report.resumed = True
            since = parse_instant(saved.get("since")) or since
            offset = int(saved.get("offset", 0))
            report.lines, report.read = int(saved.get("lines", 0)), int(saved.get("read", 0))
            stream: BinaryIO = open(self.out_path, "r+b")  # noqa: SIM115 (closed below)
            stream.truncate(offset)
            stream.seek(offset)
            say(
                self.say_to,
                f"export {self.tenant}: resuming {self.out_path} from the checkpoint ({report.lines:,} lines)",
            )
        else:
            self.runtime.redis.delete(self.key)
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            stream = open(self.out_path, "wb")  # noqa: SIM115 (closed below)
            offset = 0
            self._save({"state": "running", "since": format_instant(since), "out": str(self.out_path), "offset": 0})
            say(self.say_to, f"export {self.tenant}: tickets changed since {format_instant(since)} -> {self.out_path}")
        connector = self.runtime.connector(self.tenant)
        export = connector.history(self.runtime.client(self.tenant), self.pacer)
        self.progress.update(report.lines, report.read, force=True)
        try:
            while True:
                try:
                    for chunk in export.chunks(since=since, checkpoint=checkpoint):
                        offset = self._write(stream, chunk, offset)
                        checkpoint = chunk.checkpoint
                        renew()
                        self._save(
                            {
                                "checkpoint": checkpoint,
                                "offset": offset,
                                "lines": report.lines,
                                "read": report.read,
                            }
                        )
                    break
                except RateLimited as error:
                    # The help desk's own limit answered (another integration exports too): wait, go on.
                    self._note(f"export rate limited by the help desk, waiting {error.retry_after:.0f}s")
                    self.sleep(error.retry_after)
        finally:
            stream.close()
        self.progress.finish("done")
        self._save({"state": "done", "finished_at": format_instant(datetime.now(UTC))})
        return report

    def _resumable(self, saved: Mapping[str, str]) -> str | None:
        """The checkpoint to continue from, when an export of the same file stopped half-way."""
        if saved.get("state") != "running" or saved.get("out") != str(self.out_path):
            return None
        if not self.out_path.exists() or self.out_path.stat().st_size < int(saved.get("offset", 0)):
            say(
                self.say_to,
                f"export {self.tenant}: {self.out_path} is not the file the checkpoint was for; starting over",
            )
            return None
        checkpoint = saved.get("checkpoint")
        return checkpoint if checkpoint else None

    def _write(self, stream: BinaryIO, chunk: HistoryChunk, offset: int) -> int:
        data = "".join(_encode(line) + "\n" for line in chunk.lines).encode("utf-8")
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())  # the checkpoint saved next must never point past what is on disk
        report = self.report
        report.lines += len(chunk.lines)
        report.read += chunk.read
        report.chunks += 1
        report.reached = chunk.reached or report.reached
        self.progress.reached = report.reached
        self._note("")
        return offset + len(data)

    def _export_wait(self, seconds: float) -> None:
        self._note(f"pacing the help desk's export limit, next page in {seconds:.0f}s")

    def _note(self, note: str) -> None:
        self.progress.update(self.report.lines, self.report.read, note)

    def _save(self, fields: Mapping[str, str | int]) -> None:
        self.runtime.redis.hset(self.key, mapping={name: value for name, value in fields.items()})
