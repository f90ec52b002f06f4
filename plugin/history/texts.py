"""The mix and the words of synthetic tickets: who writes, about what, when, and what agents answer.

Routing phrases (DESIGN §6) appear only in `ROUTES` (what customers write), in the negated openings and
in agents' notes; every other customer text is free of them, so a policy's routing on a synthetic file
can be checked against `SynthStats`. The variants exercise the tolerant matching the shipped policy
promises: plurals, `can't` / `unable to`, `login`, `sign in`, any case.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


ARRIVALS_BY_HOUR = (0.15, 0.1, 0.08, 0.08, 0.1, 0.15, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6,
                    1.4, 1.5, 1.6, 1.5, 1.3, 1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.2)  # fmt: skip
ARRIVALS_BY_WEEKDAY = (1.0, 1.0, 1.0, 0.95, 0.85, 0.25, 0.2)
"""Relative arrival rates by New York hour and weekday (Monday first): business hours carry most."""

CATEGORIES = {"howto": 52, "problem": 26, "account": 7, "feature": 5, "keyword": 6, "late_keyword": 2, "negated": 2}
"""Ticket kinds, percent. `keyword`: a routing phrase in the new ticket; `late_keyword`: in a later
customer comment; `negated`: "this is not an outage" (must not route)."""
ROUTE_WEIGHTS = {"l2": 45, "security": 12, "legal": 18, "finance": 25}
SEGMENTS = {"enterprise": 10, "partner": 5, "standard": 65, "none": 20}
LOCALES = {"en-US": 72, "es-MX": 8, "fr-FR": 7, "de-DE": 7, "pt-BR": 6}
ZONES = {
    "en-US": ("America/New_York", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "es-MX": ("America/Mexico_City",),
    "fr-FR": ("Europe/Paris",),
    "de-DE": ("Europe/Berlin",),
    "pt-BR": ("America/Sao_Paulo",),
}
CHANNELS = {"web": 45, "email": 35, "chat": 12, "api": 5, "phone": 3}


def pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def letter(rng: random.Random, sentence: str, first_name: str) -> str:
    """A customer's message around its one meaningful sentence."""
    return f"{pick(rng, GREETINGS)}{sentence} {pick(rng, CLOSINGS)}\n{first_name}"


GREETINGS = ("Hi,\n", "Hello team,\n", "Hi there,\n", "Good morning,\n", "")
CLOSINGS = ("Thanks,", "Thank you,", "Best regards,", "Cheers,", "Thanks in advance,")

AREAS = ("dashboard", "reports page", "mobile app", "API", "CSV export", "Slack integration", "admin console",
         "search", "calendar sync", "webhooks", "user directory", "audit log")  # fmt: skip

ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "l2": (
        ("Outage?", "Looks like an outage on your side: the {area} has not loaded for an hour."),
        ("Repeated outages", "We keep seeing outages of the {area}, three times this week already."),
        ("Cannot log in", "We cannot log in since this morning; the {area} just spins after the password."),
        ("Login broken", "I can't log in anymore and neither can my team."),
        ("Locked out", "Our staff are unable to log in with SSO since the last update."),
        ("URGENT: cannot login", "I cannot login, the {area} says my password is wrong right after a reset."),
        ("SSO problem", "Half of our users can not sign in today."),
    ),
    "security": (
        (
            "Possible security breach",
            "We may have had a security breach: an unknown admin user appeared in our account.",
        ),
        ("Data breach?", "One of our customers found their records online. Is this a data breach on your side?"),
        ("Account hacked", "Account hacked? Someone changed our owner email and the 2FA settings last night."),
    ),
    "legal": (
        ("Request from our legal team", "Our legal team needs the signed DPA and your subprocessor list by Friday."),
        ("Audit log for our lawyer", "Our lawyer asked me to request the full audit log for our account."),
        ("GDPR request", "This is a GDPR request: please delete all personal data of a former employee."),
    ),
    "finance": (
        ("Billing error on last invoice", "There is a billing error on our last invoice: 40 seats billed, we have 25."),
        ("Charged twice", "We were charged twice this month, I can see two card payments."),
        ("Wrong invoice", "We received the wrong invoice: it shows another company's address."),
    ),
}
"""Route → (subject, sentence): the customer's words that a keyword policy should route."""

OPENINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "howto": (
        ("How do I export a report?", "How can I export the {area} data to a spreadsheet?"),
        ("Adding a user", "Could you tell me how to add a new user to our workspace?"),
        ("Time zone setting", "Where do I change the time zone used by the {area}?"),
        ("Setting up SSO", "We want to set up SSO with Okta. Is there a guide?"),
        ("Weekly schedule", "Is it possible to schedule the {area} to email us every Monday?"),
        ("Two-factor authentication", "How do we make two-factor authentication mandatory for everyone?"),
        ("Archive old projects", "What is the best way to archive old projects without losing the {area} history?"),
        ("Importing contacts", "Can we import our contacts from a CSV file, and which columns are needed?"),
        ("Question about {area}", "Does the {area} support filtering by region?"),
    ),
    "problem": (
        ("{area} is very slow", "The {area} takes more than a minute to load today."),
        ("Error 500 in {area}", "We get an error 500 when we open the {area}."),
        ("{area} timeouts", "Requests to the {area} time out about one time in five."),
        ("Numbers look wrong", "The totals in the {area} do not match what we see in our own records."),
        ("{area} stopped syncing", "The {area} stopped syncing yesterday afternoon, nothing new since."),
        ("Crash", "The {area} crashes every time I open it on my phone."),
    ),
    "account": (
        ("Update card on file", "Please update the card on file; the old one expires this month."),
        ("Receipt needed", "Could you send a copy of last month's receipt for our accounting?"),
        ("Change of plan", "We would like to move to the annual plan. How does the proration work?"),
        ("New billing contact", "Please make our CFO the billing contact from now on."),
    ),
    "feature": (
        ("Feature request: dark mode", "Any plans for a dark mode in the {area}?"),
        ("Suggestion", "It would help us a lot if the {area} could show weekly trends."),
        ("Bulk edit", "We would love a way to edit many records at once."),
    ),
    "negated": (
        ("Slow {area}", "This is not an outage, but the {area} is slow to load today."),
        ("Invoice question", "Not a billing error as far as I can tell, but what are the dates on our invoice?"),
    ),
}
"""Category → (subject, sentence) with no routing phrase (negated ones must not route either)."""

FIRST_ANSWERS = (
    "thanks for reaching out. You can find this under Settings; here is the article: https://help.example/a/1042",
    "thanks for the report. Could you send a screenshot and the time it happened?",
    "sorry about the trouble. Which browser and version are you on?",
    "thanks for writing in. I have checked your account settings; could you try again now?",
    "thanks! Could you confirm the affected user's email so I can look at the logs?",
)
FOLLOW_UPS = (
    "Thanks for the details, I am looking into it now.",
    "I could reproduce it here. I will get back to you shortly.",
    "Could you try clearing the cache and let me know if it still happens?",
    "Thanks, that helps. One more question: does it happen for every user?",
    "I have applied a change on our side; could you check again?",
)
CUSTOMER_REPLIES = (
    "Thanks, here is the screenshot you asked for.",
    "Still happening, I attached the logs.",
    "I tried that, no luck.",
    "It happens every time around 10am.",
    "Chrome 126 on Windows 11.",
    "Any news on this?",
    "It works for some of us but not for others.",
)
AGENT_KEYWORD_NOTES = (
    "Customer's ISP had an outage yesterday; asked them to retry before we dig further.",
    "If this turns out to be a security breach we loop in Security, but the logs look clean so far.",
    "Our legal page covers this; sent them the link.",
    "They asked whether a billing error could cause this; it cannot, their plan is fine.",
)
"""Agents' words that mention routing phrases: a policy reading only customers' words must ignore them."""
ROUTE_NOTES = (
    "Routing to the specialist team: the customer's message is for them.",
    "Handing over: not something frontline can answer, see the customer's first message.",
)
ESCALATION_NOTES = (
    "Escalating to Tier 2: reproduced the problem in the {area}; cleared cache and tried another browser, same result.",
    "Escalating to Tier 2: error 500 in the {area} for all their users. Logs attached, customer on the Business plan.",
    "Needs Tier 2: the {area} problem is beyond the frontline checklist; browser and account settings verified.",
)
BOUNCE_NOTES = (
    "Sending back to Tier 1: this is a configuration question answered in article 1042.",
    "Back to frontline: could not reproduce, please gather the exact steps from the customer.",
)
REESCALATION_NOTES = (
    "Back to Tier 2: customer confirmed the article did not help and sent exact steps; still failing.",
    "Re-escalating: steps attached, reproduced on two accounts.",
)
TIER3_NOTES = (
    "Escalating to Tier 3: looks like a regression in the last {area} release; stack trace attached.",
    "Needs engineering: data inconsistency in the {area} that we cannot fix from the admin tools.",
)
RESOLUTIONS = (
    "Good news: this is fixed now. Please let us know if anything else comes up.",
    "We have deployed a fix; you should be able to continue without any trouble.",
    "Glad the steps worked! I am marking this as solved.",
    "The setting is now changed on your account. Have a great day!",
)
REOPENINGS = (
    "Hi, the problem is back again this morning.",
    "Sorry, one more question about this.",
    "It worked for a day but now it fails again.",
)

ORG_WORDS = ("Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Soylent", "Stark", "Wayne", "Acme", "Tyrell",
             "Cyberdyne", "Wonka", "Aperture", "Massive", "Gringotts", "Oscorp", "Nakatomi", "Monarch", "Sterling",
             "Dunder", "Pendant", "Bluth", "Prestige", "Zorg")  # fmt: skip
ORG_KINDS = ("Corp", "Labs", "Group", "Industries", "Systems", "Logistics", "Health", "Retail", "Media", "Foods")
MAIL_DOMAINS = ("mail.example", "inbox.example", "post.example")

FIRST_NAMES = {
    "en-US": (
        "Dana",
        "Alex",
        "Jordan",
        "Taylor",
        "Morgan",
        "Chris",
        "Sam",
        "Jamie",
        "Riley",
        "Casey",
        "Avery",
        "Quinn",
    ),
    "es-MX": ("María", "José", "Luis", "Ana", "Carlos", "Sofía", "Diego", "Lucía"),
    "fr-FR": ("Camille", "Julien", "Léa", "Nicolas", "Chloé", "Antoine"),
    "de-DE": ("Lukas", "Anna", "Jonas", "Lena", "Felix", "Jürgen"),
    "pt-BR": ("João", "Mariana", "Pedro", "Beatriz", "Rafael", "Larissa"),
}
LAST_NAMES = {
    "en-US": ("Smith", "Johnson", "Lee", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Clark", "Lewis"),
    "es-MX": ("Hernández", "López", "Martínez", "González", "Pérez", "Ramírez"),
    "fr-FR": ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard"),
    "de-DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"),
    "pt-BR": ("Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira"),
}
