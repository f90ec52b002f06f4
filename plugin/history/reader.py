"""Read a history file line by line: records in file order, or grouped per ticket for a replay.

Memory. Reading never holds the file: one line at a time (at most `MAX_LINE_BYTES`, even when a corrupt
file has no newlines), and a replay holds one ticket's records at a time. Grouping a file whose tickets
interleave — a file ordered by time across tickets, as an incremental event export or `escalator synth`
writes — needs to know where each ticket's lines are, so `index_history` first scans the file once,
decoding each line only far enough to read its ticket id, and keeps per ticket the byte offsets and line
numbers of its lines (measured: ~10 MB for 200,000 lines / 20,000 tickets, against a 150 MB file); the
second pass seeks to each ticket's lines and parses them fully. Checking a line costs about as much as
decoding its JSON, so the scan, which only peeks at the ticket id, adds ~20% to a plain read. A plain file is indexed in
place; a gzip file or a pipe is copied to a temporary file while it is scanned (disk, not memory).

A file that is already grouped by ticket (each ticket's lines together, as `presort` writes) can be read
in one pass with `tickets(..., grouped=True)`, holding only the current ticket.

Bad lines are reported to `on_problem` (line number and reason) and skipped; reading goes on. Lines the
scan cannot place (not JSON, no ticket id) are reported during the scan; the others when their ticket is
read, so reports come in line order within each pass, not across passes.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from array import array
from collections.abc import Callable, Iterator
from datetime import datetime
from operator import attrgetter
from types import TracebackType
from typing import IO, Any, cast

from escalator.plugin.history.records import MAX_LINE_BYTES, HistoryRecord, LineProblem, parse_line, peek

Source = str | os.PathLike[str] | IO[bytes] | IO[str]
"""A path (`.gz` read as gzip) or an open stream, binary or text."""

ProblemSink = Callable[[LineProblem], None]

_AT = attrgetter("at")
_BOM = b"\xef\xbb\xbf"


class ProblemLog:
    """An `on_problem` sink that counts every problem and keeps the first `keep` (for a summary)."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.count = 0
        self.problems: list[LineProblem] = []

    def __call__(self, problem: LineProblem) -> None:
        self.count += 1
        if len(self.problems) < self.keep:
            self.problems.append(problem)


def read_records(source: Source, *, on_problem: ProblemSink | None = None) -> Iterator[HistoryRecord]:
    """Every valid line in file order, one at a time (for a replay on one clock across tickets, the file
    must then be ordered by time across tickets)."""
    with _Opened(source) as opened:
        for number, _offset, raw in _lines(opened.stream, on_problem):
            parsed = parse_line(raw, number)
            if isinstance(parsed, LineProblem):
                _report(on_problem, parsed)
            else:
                yield parsed


def tickets(
    source: Source, *, on_problem: ProblemSink | None = None, grouped: bool = False
) -> Iterator[tuple[str, list[HistoryRecord]]]:
    """Each ticket's records in time order (ties keep file order), tickets in order of their first line.

    The file need only keep each ticket's lines in time order (not even that: they are sorted). With
    `grouped=True` the file must hold each ticket's lines together; it is then read in one pass, and a
    ticket seen again after its lines ended is reported and those lines skipped."""
    if grouped:
        yield from _grouped(source, on_problem)
        return
    with index_history(source, on_problem=on_problem) as index:
        yield from index.tickets()


def index_history(source: Source, *, on_problem: ProblemSink | None = None) -> HistoryIndex:
    """Scan the file once: where each ticket's lines are, and the span of time it covers (a simulation's
    default end is its last instant, known before any ticket is replayed)."""
    opened = _Opened(source)
    spool: IO[bytes] | None = None
    try:
        stream = opened.stream
        if not opened.in_place:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the index)
        index = HistoryIndex(opened, spool, on_problem)
        spooled = 0
        for number, offset, raw in _lines(stream, on_problem):
            if spool is not None:
                data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
                spool.write(data)
                offset, spooled = spooled, spooled + len(data)
            index._add(number, offset, raw)
        return index
    except BaseException:
        if spool is not None:
            spool.close()
        opened.close()
        raise


def presort(source: Source, out: IO[bytes], *, on_problem: ProblemSink | None = None) -> int:
    """Rewrite a file with each ticket's lines together (tickets by first appearance): afterwards
    `tickets(..., grouped=True)` reads it in one pass. Copies lines byte for byte (lines the scan could not
    place in a ticket are reported and left out); returns how many it wrote."""
    written = 0
    with index_history(source, on_problem=on_problem) as index:
        for _ticket, lines in index._lines_by_ticket():
            for _number, raw in lines:
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
                written += 1
    return written


class HistoryIndex:
    """Where each ticket's lines are in a scanned file; `tickets()` reads them back ticket by ticket."""

    def __init__(self, opened: _Opened, spool: IO[bytes] | None, on_problem: ProblemSink | None) -> None:
        self._opened = opened
        self._spool = spool
        self._on_problem = on_problem
        self._where: dict[str, tuple[array[int], array[int]]] = {}
        self._last_key: str | None = None
        self.lines = 0
        """Lines with content (blank lines are not counted)."""
        self.grouped = True
        """Whether every ticket's lines were together (the file could be read with `grouped=True`)."""
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None

    @property
    def ticket_count(self) -> int:
        return len(self._where)

    def __enter__(self) -> HistoryIndex:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
        self._opened.close()

    def tickets(self) -> Iterator[tuple[str, list[HistoryRecord]]]:
        """Each ticket's valid records in time order, one ticket in memory at a time."""
        for ticket, lines in self._lines_by_ticket():
            records: list[HistoryRecord] = []
            for number, raw in lines:
                parsed = parse_line(raw, number)
                if isinstance(parsed, HistoryRecord) and parsed.ticket_id != ticket:
                    parsed = LineProblem(number, "the line names its ticket twice (a repeated key)", "$.ticket")
                if isinstance(parsed, LineProblem):
                    _report(self._on_problem, parsed)
                else:
                    records.append(parsed)
            if records:
                records.sort(key=_AT)
                yield ticket, records

    def _add(self, number: int, offset: int, raw: bytes | str) -> None:
        self.lines += 1
        key, at = peek(raw)
        if key is None:  # the full parse names what is wrong; such a line cannot be placed in a ticket
            parsed = parse_line(raw, number)
            if isinstance(parsed, LineProblem):
                _report(self._on_problem, parsed)
                return
            key = parsed.ticket_id
        if at is not None:
            self.first_at = at if self.first_at is None else min(self.first_at, at)
            self.last_at = at if self.last_at is None else max(self.last_at, at)
        where = self._where.get(key)
        if where is None:
            where = self._where[key] = (array("q"), array("q"))
        elif key != self._last_key:
            self.grouped = False
        self._last_key = key
        where[0].append(offset)
        where[1].append(number)

    def _lines_by_ticket(self) -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
        stream: IO[Any] = self._spool if self._spool is not None else self._opened.stream
        base = 0 if self._spool is not None else self._opened.start
        position = -1
        for ticket, (offsets, numbers) in self._where.items():
            lines: list[tuple[int, bytes]] = []
            for offset, number in zip(offsets, numbers, strict=True):
                if offset != position:
                    stream.seek(base + offset)
                raw = stream.readline(MAX_LINE_BYTES)
                position = offset + len(raw)
                lines.append((number, raw))
            yield ticket, lines


def _grouped(source: Source, on_problem: ProblemSink | None) -> Iterator[tuple[str, list[HistoryRecord]]]:
    done: set[str] = set()
    current: str | None = None
    records: list[HistoryRecord] = []
    for record in read_records(source, on_problem=on_problem):
        key = record.ticket_id
        if key != current:
            if key in done:
                message = (
                    f"ticket {key} appears again after its lines ended: the file is not grouped by ticket "
                    "(read it without grouped=True, or presort it)"
                )
                _report(on_problem, LineProblem(record.line_number, message))
                continue
            if current is not None:
                records.sort(key=_AT)
                yield current, records
                done.add(current)
            current, records = key, []
        records.append(record)
    if current is not None:
        records.sort(key=_AT)
        yield current, records


def _report(on_problem: ProblemSink | None, problem: LineProblem) -> None:
    if on_problem is not None:
        on_problem(problem)


class _Opened:
    """The source as a stream; closes only what it opened. `in_place`: seekable bytes we can index as is."""

    def __init__(self, source: Source) -> None:
        stream: IO[Any]
        self._owned = isinstance(source, str | os.PathLike)
        if isinstance(source, str | os.PathLike):
            path = os.fspath(source)
            stream = cast(IO[bytes], gzip.open(path, "rb")) if path.endswith(".gz") else open(path, "rb")  # noqa: SIM115
        else:
            stream = source
        self.stream = stream
        binary = not isinstance(stream, io.TextIOBase)
        self.in_place = binary and not isinstance(stream, gzip.GzipFile) and _seekable(stream)
        self.start = stream.tell() if self.in_place else 0

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self.stream.close()


def _seekable(stream: IO[Any]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _lines(stream: IO[Any], on_problem: ProblemSink | None) -> Iterator[tuple[int, int, Any]]:
    """(line number, offset from the start, raw line) for each non-blank line within the limit (newline
    included); longer lines are reported and skipped without holding more than the limit in memory."""
    readline = stream.readline
    number = 0
    offset = 0
    while True:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        start = offset
        offset += len(raw)
        if number == 1:  # a byte-order mark some editors write
            bom = _BOM if isinstance(raw, bytes) else "\ufeff"
            if raw.startswith(bom):
                raw = raw[len(bom) :]
                start += len(bom)
        if len(raw) > MAX_LINE_BYTES:
            newline = b"\n" if isinstance(raw, bytes) else "\n"
            size = len(raw)
            while not raw.endswith(newline):
                raw = readline(MAX_LINE_BYTES)
                if not raw:
                    break
                size += len(raw)
                offset += len(raw)
            _report(on_problem, LineProblem(number, f"line is {size:,} long; the limit is {MAX_LINE_BYTES:,} (1 MiB)"))
            continue
        if raw.isspace():
            continue
        yield number, start, raw
