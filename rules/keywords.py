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

Normalisation and tokens live in rules.keyword_text, the tables in rules.keyword_tables; this module compiles
the tables and matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product

from escalator.rules.keyword_tables import (
    FILLER_WORDS,
    LIGHT_WORDS,
    MAX_FILLER_WORDS,
    MAX_LIGHT_WORDS,
    NEGATORS,
    NOT_KEYWORDS,
    PHRASE_VARIANTS,
    WORD_VARIANTS,
    _words,
)
from escalator.rules.keyword_text import BREAK, NEWLINE, normalise, tokens

# --- compiling ---------------------------------------------------------------------------------------------


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


def _longest(root: _Node, words: Sequence[str], start: int) -> tuple[int, int] | None:
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


@lru_cache(maxsize=64)
def _text_words(text: str) -> tuple[str, ...]:
    """`tokens(text)`, kept for the texts of the latest decisions: each phrase rule of a policy reads the same
    customer text, and tokenizing it was most of a rule's matching."""
    return tuple(tokens(text))


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
        words = _text_words(text)
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


def _masked(words: Sequence[str], start: int, end: int) -> bool:
    """Whether the occurrence lies inside a longer `NOT_KEYWORDS` compound (`legal` in `legal name`)."""
    for begin in range(max(0, start - _MASK_REACH), start + 1):
        if words[begin] in _MASK_ANCHORS:
            hit = _longest(_MASKS, words, begin)
            if hit is not None and hit[1] >= end and hit[1] - begin > end - start:
                return True
    return False


def _negated(words: Sequence[str], start: int) -> bool:
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
