"""The tables behind rules.keywords: which wordings are one (`WORD_VARIANTS`, `PHRASE_VARIANTS`), which words
may sit inside a phrase (`LIGHT_WORDS`), which compounds are not the keyword (`NOT_KEYWORDS`), and what
negates an occurrence (`NEGATORS`, `FILLER_WORDS`). Data, each row saying why it is there; the matching that
uses them is in rules.keywords."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product


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
