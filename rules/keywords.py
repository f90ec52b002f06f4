"""Keyword phrases matched the way a support manager reads a ticket, for the `contains_any` operator.

An admin writes `"cannot log in"` once; customers write `I can't login`, `Unable to log-on`, `CANNOT LOG IN!!`
or `nobody can sign-in`. A plain regular expression catches the first spelling only, and a stemmer catches
too much (`legal` would match `legally`, `legalize`). This module sits in between, with every rule in a table
that says why it is there:

1. **Normalisation**, the same for phrases and text (`normalise`, `tokens`): quoted reply lines (`> ...`) are
   dropped (the customer did not write them in this message), apostrophes of every kind are deleted (`can't`
   = `can\u2019t` = `cant`, `outage's` = `outages`), accents are stripped (NFKD), case is folded. Words are runs of
   letters and digits; spaces, line breaks, hyphens and slashes only separate them (`log-in` = `log in`),
   while other punctuation ends a phrase (`outage, cannot` is two things).
2. **Plurals** (`_singulars`): each content word of a phrase also matches its `-s`, `-es` or `-ies` form.
   Only number is added, never a derivation: `outage` matches `outages`, `breach` matches `breaches`, but
   `legal` never matches `legally` or `illegal` (words stay whole).
3. **Listed variants** (`WORD_VARIANTS`, `PHRASE_VARIANTS`): spellings and wordings that mean the same as the
   admin's phrase (`cannot` = `can not` = `unable to`; `log in` = `login` = `log on`; `charged twice` =
   `double charged`). They apply whichever of the forms the admin wrote, so `"can't log in"` in a rules file
   also finds `unable to log on`.
4. **Light words** (`LIGHT_WORDS`): up to three pronouns, auxiliaries or adverbs may sit between two words of
   a phrase (`charged me twice`, `account has been hacked`, `cannot even log back in`). None is a negator, so
   `account was never hacked` does not match.
5. **Not a keyword** (`NOT_KEYWORDS`): compounds where the keyword word means something else (`legal name`,
   `planned outage`, `power outage`). An occurrence inside one does not count, unless the admin's phrase is
   that whole compound.
6. **Negation** (`_negated`): an occurrence is cancelled when a negator (`not`, `no`, `isn't`, `never`,
   `without`, ...) or a hypothetical (`in case of`, `will I be`) precedes it in the same clause with nothing
   but filler words between, at most five (`not an outage`, `isn't really a security breach`, `don't have a
   lawyer`). Punctuation, a line break and any other word (`but`, `however`, `notified`) end a negator's
   reach. An occurrence that says something negative itself (`cannot log in`, `login not working`) is never
   cancelled, and another occurrence in the text that is not negated still matches.

Text is matched as a list of words (`tokens`, made by C-level string passes) against a word trie built once
per phrase list, when the rules load; only the words that can start a phrase, followed by a word that can
continue it, are looked at further. A 2 KB ticket costs less than one plain `re` search of the raw phrases
(bench/keywords.py). The answer is the admin's phrase exactly as written in the rules file (the engine quotes
it in reasons and the handoff note); among equivalent phrases, the one spelled like the text wins.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product

# --- normalisation -----------------------------------------------------------------------------------------

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


# --- tables ------------------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _sequences(text: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(form.split()) for form in text.split(";"))


@dataclass(frozen=True)
class Variants:
    """Interchangeable wordings, the first being the head that represents them; `why` says why they are in.

    Forms are written normalised (no apostrophes) and separated by `;`. In a form, `(a|b)` is a required
    choice of one word and `[a|b]` an optional one; a form stands for every combination.
    """

    forms: str
    """The forms, separated by `;`."""
    why: str

    @property
    def templates(self) -> tuple[str, ...]:
        return tuple(form.strip() for form in self.forms.split(";"))

    def expanded(self) -> list[tuple[str, ...]]:
        """Every word sequence of the row, templates expanded."""
        return [words for template in self.templates for words in _expand(template)]


WORD_VARIANTS: tuple[Variants, ...] = (
    Variants(
        "cannot; can not; cant; unable to; not able to; could not; couldnt; can no longer; no longer able to; "
        "(cannot|cant) seem to; (wont|doesnt) let me; (will|does) not let me",
        "Customers say they cannot do something in all these ways. `could not`/`couldn't` are in because a "
        "lock-out is usually told as a story (`I tried and couldn't`); `won't let me` is how people describe an "
        "app refusing them; `can no longer` is how a change is reported.",
    ),
    Variants(
        "log in; login; log into; log on; logon; log onto",
        "One action written as a verb, a noun, run together or hyphenated; `log on` is the Windows wording and "
        "`log into` the common `log into my account`.",
    ),
    Variants(
        "sign in; signin; sign into",
        "The same for products that say sign in; kept apart from `log in` so an admin may list one alone.",
    ),
)
"""Word-level variants: replaced wherever they occur inside a phrase (`can't log-in` reads `cannot log in`)."""

PHRASE_VARIANTS: tuple[Variants, ...] = (
    Variants(
        "cannot log in; locked out; log in not working; log in isnt working; log in (doesnt|wont) work; "
        "log in does not work; log in (failed|fails|failing); cannot access account; cannot get into account; "
        "(nobody|noone) can log in; no (one|user|users) can log in; none of [us|users] can log in",
        "A lock-out, told as `locked out of my account`, `login not working`, `Login failed`, `can't access my "
        "account`, or team-wide as `nobody can log in` (which has no `cannot` to match on).",
    ),
    Variants(
        "cannot sign in; sign in not working; sign in isnt working; sign in (doesnt|wont) work; "
        "sign in does not work; sign in (failed|fails|failing); (nobody|noone) can sign in; "
        "no (one|user|users) can sign in; none of [us|users] can sign in",
        "The same lock-out in products that say sign in.",
    ),
    Variants(
        "security breach; breach of security; breach in security",
        "The same incident named noun-first.",
    ),
    Variants(
        "data breach; breach of data; data leak; leak of data; data leaked; leaked data",
        "Customers call a breach of their data a leak as often as a breach; `our data was leaked` reads the same.",
    ),
    Variants(
        "account hacked; hacked account; hacked into account; account compromised; compromised account; "
        "account hijacked; hijacked account; account takeover; account taken over",
        "`my account was hacked`, `someone hacked my account`, `hacked into our account` (light words fill the "
        "gaps), and the words security teams use for it: compromised, hijacked, account takeover.",
    ),
    Variants(
        "legal; lawsuit; litigation; breach of contract; subpoena; court order; cease and desist",
        "A legal matter named by what it is rather than by the word `legal`: an admin who routes `legal` "
        "means these too. Not `sue` (also a first name) and not `contract` (mostly sales questions).",
    ),
    Variants(
        "lawyer; attorney; solicitor; legal counsel",
        "The same person in American, British and company English.",
    ),
    Variants(
        "gdpr request; request under gdpr; gdpr (deletion|erasure|removal|access|data|export|privacy) request; "
        "gdpr data (deletion|erasure|access|export) request; gdpr subject access request; "
        "[data] subject access request; data subject request; dsar; right to be forgotten; right to erasure; "
        "gdpr (article|art) (15|17|20); (article|art) (15|17|20) [of] gdpr",
        "A request under the GDPR is named by its kind (`GDPR deletion request`), its legal term (`subject "
        "access request`, `DSAR`, `right to be forgotten`) or its article (`Article 17 GDPR`).",
    ),
    Variants(
        "billing error; billing mistake; error in billing; mistake in billing; overcharged; overbilled; "
        "charged (wrong|incorrect) amount; (wrongly|incorrectly) charged; charged (wrongly|incorrectly)",
        "Billing errors as customers report them: `you overcharged us`, `charged me the wrong amount`.",
    ),
    Variants(
        "charged twice; double charged; charged double; billed twice; double billed; charged two times; "
        "billed two times; charged 2 times; (double|duplicate) charge; charged card twice; "
        "charged credit card twice",
        "One payment taken twice: `charged me twice`, `we were double charged`, `a duplicate charge`.",
    ),
    Variants(
        "wrong invoice; incorrect invoice; invoice wrong; invoice incorrect; invoice not correct; "
        "invoice (looks|seems) (wrong|incorrect); (wrong|incorrect) amount on invoice; "
        "invoiced (wrong|incorrect) amount; invoiced (wrongly|incorrectly)",
        "`the invoice is wrong`, `wrong amount on our invoice`, `you invoiced us the wrong amount`.",
    ),
)
"""Phrase-level variants: an admin phrase that is one of a row's forms matches every form of the row."""

LIGHT_WORDS = _words(
    """me us him her them my our your their his its the a an is are was were be been being has have had got
    gets getting may might must could even still really just now currently suddenly already apparently again
    back completely totally somehow into"""
)
"""Words that may sit between two words of a phrase: pronouns, determiners, auxiliaries and a few adverbs.
They do not change what the phrase says, and none of them is a negator."""

MAX_LIGHT_WORDS = 3

NOT_KEYWORDS: tuple[Variants, ...] = (
    Variants(
        "legal [first|last|full|company|business|registered|entity] name; legal entity; legal address; "
        "legal holiday; legal size; legal paper",
        "`legal` as an attribute (the registered name, a public holiday, a paper size), not a legal matter.",
    ),
    Variants(
        "(planned|scheduled|maintenance) outage; outage (planned|scheduled); outage window",
        "Announced maintenance: a question about it is not an incident report.",
    ),
    Variants(
        "outage (notification|history|statistics)",
        "`outage` describing a notification or a record (`subscribe to outage notifications`, `your outage "
        "history`): the ticket is about the messages or the past, not a live incident.",
    ),
    Variants(
        "(power|internet|isp|electricity) outage",
        "An outage of the customer's own power or internet connection, not of the service.",
    ),
    Variants(
        "data (leak|loss|breach) prevention",
        "DLP, a product category that customers ask integrations for, not an incident.",
    ),
)
"""Compounds in which a keyword word does not mean the keyword; an occurrence inside one does not count."""

NEGATORS: dict[tuple[str, ...], str] = {
    **dict.fromkeys(
        _sequences(
            "no; not; never; without; nor; neither; isnt; wasnt; arent; werent; aint; hasnt; havent; hadnt; "
            "doesnt; dont; didnt; wont; wouldnt; shouldnt"
        ),
        "negation",
    ),
    **dict.fromkeys(
        _sequences(
            "in case of; in case; in the event of; prevent; preventing; avoid; avoiding; protect against; ever; "
            "will i be; will we be; would i be; would we be; will i get; will we get; would i get; would we get"
        ),
        "hypothetical",
    ),
}
"""What cancels a phrase that follows in the same clause: negations, and hypotheticals, which ask about a
thing rather than report it (`in case of a data breach`, `have you ever had an outage`, `will I be charged
twice?`). Bare `cannot` is not one: `I can't tell if this is an outage` still reports one."""

FILLER_WORDS = _words(
    """a an the any some this that these those it its is was be been being are were am has have had do does did
    i we you they my our your their there theres thats really actually currently ongoing real actual true major
    big serious widespread general full total genuine of sign signs evidence kind sort type case experiencing
    experienced having seeing noticing noticed reporting reported aware about asking think believe need for
    related to due caused by yet such"""
)
"""Words a negator reaches over (`not really an outage`, `no sign of a data breach`, `don't think my account
was hacked`). Any other word ends its reach, and so do punctuation and line breaks: `we were not notified
about the outage` reports an outage, and so do `not a question but an outage` and `No. We have an outage`
(`but`, `however`, `although` are not fillers: a new clause starts there)."""

MAX_FILLER_WORDS = 5

# --- compiling ---------------------------------------------------------------------------------------------


def _expand(template: str) -> Iterator[tuple[str, ...]]:
    """Every word sequence a table form stands for: `(a|b)` is one of, `[a|b]` is optional."""
    slots: list[list[str]] = []
    for part in template.split():
        if part.startswith("("):
            slots.append(part[1:-1].split("|"))
        elif part.startswith("["):
            slots.append([*part[1:-1].split("|"), ""])
        else:
            slots.append([part])
    for choice in product(*slots):
        yield tuple(word for word in choice if word)


def _singulars(word: str) -> tuple[str, ...]:
    """What a word may be the plural of: `outages` -> outage, `breaches` -> breach, `parties` -> party."""
    if not word.endswith("s") or len(word) < 4:
        return ()
    found = [] if word.endswith("ys") and word[-3] not in "aeiou" else [word[:-1]]  # `partys` is no plural
    if word.endswith("es"):
        found.append(word[:-2])
    if word.endswith("ies"):
        found.append(word[:-3] + "y")
    return tuple(found)


_SINGLE_NEGATORS = frozenset(key[0] for key in NEGATORS if len(key) == 1)
_NO_PLURAL = _words("gdpr dsar twice double nobody noone none") | LIGHT_WORDS | _SINGLE_NEGATORS
"""Words that never take a plural: function words, negators, and a few a trailing `s` would only blur."""

_NEGATIVE_SPAN_WORDS = _SINGLE_NEGATORS | {"cannot", "cant", "unable", "couldnt", "nobody", "noone", "none"}
"""An occurrence containing one of these says a negative thing itself (`unable to log in`): never cancelled."""


def _pluralises(word: str) -> bool:
    """Nouns take a plural; past participles, adverbs and gerunds (`hacked`, `wrongly`, `billing`) do not."""
    return len(word) >= 3 and word.isalpha() and word not in _NO_PLURAL and not word.endswith(("ed", "ly", "ing"))


_WORD_FORMS = tuple(tuple(row.expanded()) for row in WORD_VARIANTS)
_WORD_ROWS = {form: index for index, forms in enumerate(_WORD_FORMS) for form in forms}
_HEADS = tuple(forms[0] for forms in _WORD_FORMS)
_LONGEST = max(len(form) for form in _WORD_ROWS)


def _units(sequence: tuple[str, ...]) -> list[int | str]:
    """A word sequence as units: a `WORD_VARIANTS` row index where one of its forms occurs, else the word."""
    units: list[int | str] = []
    index = 0
    while index < len(sequence):
        for size in range(min(_LONGEST, len(sequence) - index), 0, -1):
            row = _WORD_ROWS.get(sequence[index : index + size])
            if row is not None:
                units.append(row)
                index += size
                break
        else:
            units.append(sequence[index])
            index += 1
    return units


def canonical(phrase: str | tuple[str, ...]) -> tuple[str, ...]:
    """A phrase's words with each word-level variant replaced by its head (`can't log-in` -> cannot log in)."""
    sequence = tuple(tok for tok in tokens(phrase) if tok != NEWLINE) if isinstance(phrase, str) else phrase
    return tuple(word for unit in _units(sequence) for word in (_HEADS[unit] if isinstance(unit, int) else (unit,)))


_PHRASE_FORMS = tuple(tuple(dict.fromkeys(canonical(form) for form in row.expanded())) for row in PHRASE_VARIANTS)
_PHRASE_ROWS: dict[tuple[str, ...], int] = {}
for _row, _forms in enumerate(_PHRASE_FORMS):
    for _form in _forms:
        _PHRASE_ROWS.setdefault(_form, _row)


def _spellings(sequence: tuple[str, ...], plurals: bool) -> Iterator[tuple[tuple[str, bool], ...]]:
    """Every concrete word sequence a canonical sequence stands for, each word with whether it may be plural."""
    choices: list[list[tuple[tuple[str, bool], ...]]] = []
    for unit in _units(sequence):
        if isinstance(unit, int):
            choices.append([tuple((word, False) for word in form) for form in _WORD_FORMS[unit]])
        else:
            choices.append([((unit, plurals and _pluralises(unit)),)])
    for choice in product(*choices):
        yield tuple(pair for part in choice for pair in part)


def _plain(words: Sequence[str]) -> bool:
    return BREAK not in words


def phrase_spellings(phrase: str, plurals: bool = True) -> list[tuple[tuple[str, bool], ...]]:
    """Every word sequence an admin phrase matches (before light words): its variants, each word's plural flag.

    A phrase with punctuation in it (`error (500)`) is matched as written: no variants, no plurals.
    """
    sequence = tuple(tok for tok in tokens(phrase) if tok != NEWLINE)
    if not _plain(sequence):
        return [tuple((word, False) for word in sequence)]
    sequence = canonical(sequence)
    row = _PHRASE_ROWS.get(sequence)
    forms = _PHRASE_FORMS[row] if row is not None else (sequence,)
    return [spelling for form in forms for spelling in _spellings(form, plurals)]


@dataclass(slots=True)
class _Node:
    """One word of the trie: exact next words, next words that may also be plural, and a phrase ending here."""

    exact: dict[str, _Node] = field(default_factory=dict)
    plural: dict[str, _Node] = field(default_factory=dict)
    family: int | None = None

    def add(self, spelling: tuple[tuple[str, bool], ...], family: int) -> None:
        node = self
        for word, plural in spelling:
            child = node.exact.setdefault(word, _Node())
            if plural:
                node.plural[word] = child
            node = child
        if node.family is None or family < node.family:
            node.family = family

    def step(self, word: str) -> _Node | None:
        child = self.exact.get(word)
        if child is None and self.plural and word[-1] == "s":
            for singular in _singulars(word):
                child = self.plural.get(singular)
                if child is not None:
                    break
        return child

    def anchors(self) -> frozenset[str]:
        """The words that can come next, plurals included (from the root: that an occurrence can start with)."""
        found = set(self.exact)
        for word in self.plural:
            found.update((word + "s", word + "es"))
            if word.endswith("y"):
                found.add(word[:-1] + "ies")
        return frozenset(found)


def _followers(node: _Node) -> frozenset[str] | None:
    """The words that may follow a phrase's first word, or None when the first word alone can be a phrase."""
    if node.family is not None:
        return None
    return node.anchors() | _SKIPPABLE


def _longest(root: _Node, words: list[str], start: int) -> tuple[int, int] | None:
    """The (family, end) of the first-listed family occurring at `start`, longest occurrence of it.

    Between two words of a phrase, line breaks are skipped and up to `MAX_LIGHT_WORDS` light words.
    """
    node = root.step(words[start])
    if node is None:
        return None
    count = len(words)
    best: tuple[int, int] | None = None
    stack = [(node, start + 1, 0)]
    while stack:
        node, position, light = stack.pop()
        if node.family is not None and (best is None or (node.family, -position) < (best[0], -best[1])):
            best = (node.family, position)
        if position == count:
            continue
        word = words[position]
        child = node.step(word)
        if child is not None:
            stack.append((child, position + 1, 0))
        if word == NEWLINE:
            stack.append((node, position + 1, light))
        elif light < MAX_LIGHT_WORDS and word in LIGHT_WORDS:
            stack.append((node, position + 1, light + 1))
    return best


_SKIPPABLE = LIGHT_WORDS | {NEWLINE}


def _mask_trie() -> _Node:
    root = _Node()
    for row in NOT_KEYWORDS:
        for form in row.expanded():
            for spelling in _spellings(canonical(form), plurals=True):
                root.add(spelling, 0)
    return root


_MASKS = _mask_trie()
_MASK_ANCHORS = _MASKS.anchors()
_MASK_REACH = max(len(form) for row in NOT_KEYWORDS for form in row.expanded()) * (1 + MAX_LIGHT_WORDS)
"""How many tokens before an occurrence a compound covering it may start."""
_MASK_WORDS = frozenset(
    inflected
    for row in NOT_KEYWORDS
    for form in row.expanded()
    for word in form
    for inflected in (word, word + "s", word + "es", word[:-1] + "ies")
)
"""An occurrence with none of these words (plurals included) cannot lie inside a compound: most of them."""


# --- matching ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One occurrence that counts: the admin's phrase, and the words of the text it covers."""

    phrase: str
    start: int
    """Index of the occurrence's first token in `tokens(text)`."""
    end: int
    """Index just past its last token."""
    words: tuple[str, ...]
    """The occurrence as the customer wrote it (normalised words, line breaks left out)."""


@dataclass(frozen=True)
class _Family:
    """Admin phrases that match the same spellings: told apart by how the text spelled the occurrence."""

    phrases: tuple[str, ...]
    by_spelling: dict[tuple[str, ...], str]


class PhraseMatcher:
    """A list of admin phrases compiled once (when a rules file loads); see the module docstring.

    `plurals`, `negation` and `masks` (`NOT_KEYWORDS`) may be turned off to measure what each brings.
    """

    def __init__(
        self, phrases: Sequence[str], *, plurals: bool = True, negation: bool = True, masks: bool = True
    ) -> None:
        self.phrases = tuple(phrases)
        self.plurals, self.negation, self.masks = plurals, negation, masks
        spellings = [tuple(phrase_spellings(phrase, plurals)) for phrase in self.phrases]
        families: dict[frozenset[tuple[tuple[str, bool], ...]], list[int]] = {}
        for index, spelled in enumerate(spellings):
            families.setdefault(frozenset(spelled), []).append(index)
        self._families: list[_Family] = []
        self._root = _Node()
        for members in families.values():
            by_spelling: dict[tuple[str, ...], str] = {}
            for index in members:
                literal = tuple(tok for tok in tokens(self.phrases[index]) if tok != NEWLINE)
                by_spelling.setdefault(literal, self.phrases[index])
            for spelling in spellings[members[0]]:
                self._root.add(spelling, len(self._families))
            self._families.append(_Family(tuple(self.phrases[index] for index in members), by_spelling))
        self._anchors = self._root.anchors()
        self._followers = {word: _followers(node) for word in self._anchors if (node := self._root.step(word))}

    def find(self, text: str) -> Found | None:
        """The leftmost occurrence that is neither inside a `NOT_KEYWORDS` compound nor negated."""
        words = tokens(text)
        if self._anchors.isdisjoint(words):
            return None
        anchors, followers, last = self._anchors, self._followers, len(words) - 1
        for start in [index for index, word in enumerate(words) if word in anchors]:
            allowed = followers.get(words[start])
            if allowed is not None and (start == last or words[start + 1] not in allowed):
                continue  # most anchors (`can`, `account`) are not followed by a word of a phrase: no search
            hit = _longest(self._root, words, start)
            if hit is None:
                continue
            family, end = self._families[hit[0]], hit[1]
            spelled = tuple(word for word in words[start:end] if word != NEWLINE)
            if self.masks and not _MASK_WORDS.isdisjoint(spelled) and _masked(words, start, end):
                continue
            if self.negation and _NEGATIVE_SPAN_WORDS.isdisjoint(spelled) and _negated(words, start):
                continue
            return Found(family.by_spelling.get(spelled, family.phrases[0]), start, end, spelled)
        return None

    def __call__(self, text: str) -> str | None:
        """The admin's phrase (as written in the rules file) that the text contains, or None."""
        found = self.find(text)
        return found.phrase if found else None


def _masked(words: list[str], start: int, end: int) -> bool:
    """Whether the occurrence lies inside a longer `NOT_KEYWORDS` compound (`legal` in `legal name`)."""
    for begin in range(max(0, start - _MASK_REACH), start + 1):
        if words[begin] in _MASK_ANCHORS:
            hit = _longest(_MASKS, words, begin)
            if hit is not None and hit[1] >= end and hit[1] - begin > end - start:
                return True
    return False


def _negated(words: list[str], start: int) -> bool:
    """A negator or hypothetical before the occurrence, in its clause, with only filler words between."""
    position, fillers = start, 0
    while position > 0:
        for size in (4, 3, 2, 1):
            if size <= position and tuple(words[position - size : position]) in NEGATORS:
                return True
        before = words[position - 1]
        if before not in FILLER_WORDS or fillers == MAX_FILLER_WORDS:
            return False  # punctuation, a line break, a clause word or any other word ends the reach
        position, fillers = position - 1, fillers + 1
    return False


# --- the same matching as a regular expression -------------------------------------------------------------

_SEP = r"[\s\-/\u2010-\u2015]+"
_LIGHT = "|".join(sorted(LIGHT_WORDS, key=lambda word: (-len(word), word)))
_JOIN = rf"{_SEP}(?:(?:{_LIGHT}){_SEP}){{0,{MAX_LIGHT_WORDS}}}"


def _word_regex(word: str, plural: bool) -> str:
    if not plural:
        return re.escape(word)
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return f"{re.escape(word[:-1])}(?:y|ies)"
    return f"{re.escape(word)}(?:e?s)?"


def _sequence_regex(sequence: tuple[str, ...], plurals: bool) -> str:
    """A canonical sequence as a regex: each word-level variant as an alternation of its forms."""
    parts: list[str] = []
    for unit in _units(sequence):
        if isinstance(unit, int):
            forms = (_JOIN.join(re.escape(word) for word in form) for form in _WORD_FORMS[unit])
            parts.append("(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")")
        else:
            parts.append(_word_regex(unit, plurals and _pluralises(unit)))
    return _JOIN.join(parts)


def phrase_regex(phrases: Sequence[str], plurals: bool = True) -> re.Pattern[str]:
    """The phrases' spellings as one regular expression over `normalise`d text (no masks, no negation).

    For tools that need a pattern rather than a matcher, and for the tests that cross-check the two; rules
    use `PhraseMatcher`, which also applies `NOT_KEYWORDS` and negation, and is faster.
    """
    branches: list[str] = []
    for phrase in phrases:
        sequence = tuple(tok for tok in tokens(phrase) if tok != NEWLINE)
        if not _plain(sequence):
            pieces = re.findall(r"\w+|[^\w\s]+", normalise(phrase))
            branches.append(r"\s*".join(re.escape(piece) for piece in pieces))
            continue
        row = _PHRASE_ROWS.get(canonical(sequence))
        forms = _PHRASE_FORMS[row] if row is not None else (canonical(sequence),)
        branches.extend(_sequence_regex(form, plurals) for form in forms)
    unique = sorted(set(branches), key=lambda branch: (-len(branch), branch))
    return re.compile(rf"(?<!\w)(?:{'|'.join(unique)})(?!\w)", re.IGNORECASE)
