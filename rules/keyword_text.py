"""Text as rules.keywords matches it: the same normalisation for the admin's phrases and the customer's text
(quoted reply lines dropped, apostrophes deleted, accents stripped, case folded, hyphens and slashes as
spaces), and the word list made from it with C-level string passes (`tokens`)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_APOSTROPHES = ("'", "`", "\u2019", "\u2018", "\u02bc", "\u00b4", "\u2032")
"""Deleted, all of them (`can't` = `can\u2019t` = `cant`), before NFKD (which would turn U+00B4 into a space)."""

_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
"""The combining marks NFKD leaves behind for Latin, Greek and Cyrillic letters (é -> e + U+0301)."""

BREAK = "."
"""The token for punctuation and symbols (. , ; : ! ? brackets, quotes, `*`, `€`): ends a clause and a phrase."""
NEWLINE = "\x02"
"""The token for a line break or a spaced dash: it ends a clause (a negator's reach) but not a phrase (mail
clients wrap lines)."""


def _byte_class(code: int) -> int:
    char = chr(code)
    if char.isalnum() or char == "_":
        return ord(char.lower())
    return ord(NEWLINE if char == "\n" else " " if char in " \t\r\x0b\x0c-/" else BREAK)


_BYTE_TABLE = bytes(_byte_class(code) for code in range(128)) + bytes(range(128, 256))
"""Each ASCII byte to itself lower-cased (letters, digits, `_`), a space (spaces, `-`, `/`), `NEWLINE` or
`BREAK`, in one C-level pass; the bytes of multi-byte characters (>= 128) are left alone."""

_ASCII_BYTES = bytes(range(128))
_HYPHENS = frozenset(chr(code) for code in range(0x2010, 0x2016))


def _without_quotes(text: str) -> str:
    """Text without e-mail quote lines (`> We found no outage`): an earlier message, often the agent's, not
    written by the customer now. A `>` before a number (`> 500 users affected`) is a comparison, not a quote.
    Only the `>` characters are visited, not every line."""
    spans: list[tuple[int, int]] = []
    mark = text.find(">")
    while mark != -1:
        line_start = text.rfind("\n", 0, mark) + 1
        line_end = text.find("\n", mark)
        line_end = len(text) if line_end == -1 else line_end
        if not text[line_start:mark].strip(" \t") and not text[mark:line_end].lstrip(" \t>")[:1].isdigit():
            spans.append((line_start, line_end))
        mark = text.find(">", line_end)
    if not spans:
        return text
    kept, position = [], 0
    for start, end in spans:
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    return "".join(kept)


def _without_addresses(text: str) -> str:
    """Text without e-mail addresses and web links: `legal@acme.example` or `status.example/outage` name a
    mailbox or a page, they do not say anything (and signatures are full of them)."""
    for marker in ("@", "://", "www."):
        start = text.find(marker)
        while start != -1:
            left = start
            while left > 0 and not text[left - 1].isspace() and text[left - 1] not in '<("':
                left -= 1
            right = start + len(marker)
            while right < len(text) and not text[right].isspace() and text[right] not in '>)"':
                right += 1
            text = text[:left] + " " + text[right:]
            start = text.find(marker, left + 1)
    return text


def _prepare(text: str) -> str:
    """Shared by `normalise` and `tokens`: quoted lines and addresses out, spaced dashes as line breaks."""
    if ">" in text:
        text = _without_quotes(text)
    if "@" in text or "://" in text or "www." in text:
        text = _without_addresses(text)
    if " -" in text or not text.isascii():
        for dash in (" - ", " -- ", " \u2013 ", " \u2014 "):
            if dash in text:
                text = text.replace(dash, "\n")  # a clause break, like a line break: `no warning - an outage`
    return text


def normalise(text: str) -> str:
    """Text as the matcher reads it: no quoted lines, addresses or apostrophes; accents stripped; case folded.

    `tokens` gives the same words faster; this string form is for regular expressions (`phrase_regex`).
    """
    text = _prepare(text)
    for mark in _APOSTROPHES:
        if mark in text:
            text = text.replace(mark, "")
    if not text.isascii():
        text = _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", text))
    return text.casefold()


@lru_cache(maxsize=4096)
def _non_ascii_char(char: str) -> str:
    """What one non-ASCII character becomes: nothing for an apostrophe; NFKD without marks, case folded (`É` ->
    e, `ß` -> ss, `ﬁ` -> fi); a space for a hyphen or a space; `BREAK` for any other symbol (`“`, `€`, an
    emoji); letters of other scripts stay. Characters map one by one, so a text pays only for the distinct
    ones it holds."""
    if char in _APOSTROPHES:
        return ""
    folded = _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", char)).casefold()
    return "".join(
        piece
        if piece.isascii() or piece.isalnum() or unicodedata.category(piece).startswith("M")
        else " "
        if piece.isspace() or piece in _HYPHENS
        else BREAK
        for piece in folded
    )


def tokens(text: str) -> list[str]:
    """The words of `normalise(text)`, with `BREAK` and `NEWLINE` tokens where punctuation and line breaks were.

    Built by C-level passes (translate, replace, split) so that a 2 KB ticket costs tens of microseconds;
    only the distinct non-ASCII characters of a text are looked at one by one.
    """
    text = _prepare(text)
    if not text.isascii():
        for char in set(text.encode("utf-8").translate(None, _ASCII_BYTES).decode("utf-8")):
            replacement = _non_ascii_char(char)
            if replacement != char:
                text = text.replace(char, replacement)
    mapped = text.encode("utf-8").translate(_BYTE_TABLE, b"'`")
    if b"." in mapped:
        mapped = mapped.replace(b".", b" . ")
    if b"\x02" in mapped:
        mapped = mapped.replace(b"\x02", b" \x02 ")
    return mapped.decode("utf-8").split()
