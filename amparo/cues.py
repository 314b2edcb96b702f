"""Disclosure cues: a phrase lexicon per language that catches what the NLU model may
read as something else (data in amparo/data/cues/<lang>.yml)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from amparo.text import has_phrase, phrase, word_line

CUES_DIR = Path(__file__).with_name("data") / "cues"
# When a message carries cues of several categories, the first one here decides: the
# ones whose reply must start with emergency and crisis numbers come first.
CATEGORIES = ("danger", "self_harm", "child_at_risk", "trafficking", "violence")
# The NLU intent of each category.
DISCLOSURE_INTENTS = {
    "danger": "emergency",
    "self_harm": "disclose_self_harm",
    "child_at_risk": "disclose_child_at_risk",
    "trafficking": "disclose_trafficking",
    "violence": "disclose_violence",
}
# And the category of each of those intents.
DISCLOSURE_CATEGORIES = {intent: c for c, intent in DISCLOSURE_INTENTS.items()}
# Not disclosures: the words a request for a person has and the phrases whose person
# word names nobody ("trata de personas": asks_for_person); the phrases that are a
# request on their own, the words that undo one just before it, and the people a
# request about is no request for us (requests_person).
PERSON, PERSON_IDIOM, PERSON_REQUEST = "person", "person_idiom", "person_request"
PERSON_NEGATION, PERSON_OTHER = "person_negation", "person_other"
# How many words before a request a negation undoes it ("no me interesa hablar con").
NEGATION_REACH = 3


@cache
def lexicon(directory: Path = CUES_DIR) -> dict[str, tuple[str, ...]]:
    """Category → cue phrases of every language."""
    found: dict[str, list[str]] = {
        c: []
        for c in (
            *CATEGORIES,
            PERSON,
            PERSON_IDIOM,
            PERSON_REQUEST,
            PERSON_NEGATION,
            PERSON_OTHER,
        )
    }
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - set(found)
        if unknown:
            raise ValueError(f"{path}: unknown cue categories {sorted(unknown)}")
        for category, phrases in data.items():
            for entry in phrases or []:
                if not isinstance(entry, str):
                    raise ValueError(f"{path}: {category} has {entry!r}; quote it")
                found[category].append(phrase(entry))
    return {
        category: tuple(p for p in phrases if p) for category, phrases in found.items()
    }


def disclosure_in(text: str) -> str | None:
    """The category of the first disclosure cue found in ``text`` (whole words), or
    None."""
    line = word_line(text)
    for category in CATEGORIES:
        if any(has_phrase(line, cue) for cue in lexicon()[category]):
            return category
    return None


def asks_for_person(text: str) -> bool:
    """Whether the message names a person to talk to ("quiero hablar con alguien",
    "call me", "atendente"): a request for a person must, a request for help need
    not ("necesito ayuda porfa")."""
    line = word_line(text)
    found = lexicon()
    for idiom in found[PERSON_IDIOM]:  # "trata de personas", "human trafficking"
        line = line.replace(f" {idiom} ", " ")
    return any(has_phrase(line, w) for w in (*found[PERSON], *found[PERSON_REQUEST]))


def requests_person(text: str) -> bool:
    """Whether the message asks for a person in so many words ("quiero una persona",
    "someone real", "me transfere pra alguem"): a request whatever the intent model
    reads. Not under a negation ("i don't want to talk to a person") nor about family
    ("quiero hablar con alguien de mi familia")."""
    line = word_line(text)
    found = lexicon()
    if any(has_phrase(line, word) for word in found[PERSON_OTHER]):
        return False
    negations = set(found[PERSON_NEGATION])
    for request in found[PERSON_REQUEST]:
        at = line.find(f" {request} ")
        while at >= 0:
            if not negations.intersection(line[:at].split()[-NEGATION_REACH:]):
                return True
            at = line.find(f" {request} ", at + 1)
    return False
