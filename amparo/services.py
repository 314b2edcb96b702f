"""The service-type vocabulary (data in amparo/data/service_types.yml)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from amparo.text import fold, has_phrase, phrase, word_line

VOCABULARY = Path(__file__).with_name("data") / "service_types.yml"
MAX_PLACE_CHARS = 80


@dataclass(frozen=True)
class ServiceType:
    id: str
    labels: dict[str, str]
    synonyms: frozenset[str] = frozenset()

    def label(self, language: str, fallback: str = "es") -> str:
        return self.labels.get(language) or self.labels[fallback]


@cache
def service_types(path: Path = VOCABULARY) -> dict[str, ServiceType]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        key: ServiceType(
            key,
            dict(entry["label"]),
            frozenset(phrase(s) for s in entry.get("synonyms", [])),
        )
        for key, entry in data.items()
    }


def canonical_service(value: object) -> ServiceType | None:
    """The known service type in an extracted slot value, or None.

    The NLU may return a list ("albergue y comida"), or a span it did not map to an id
    ("busco medico"): then the longest synonym found in it as whole words decides.
    """
    candidates: Iterable[object] = value if isinstance(value, list) else [value]
    known = service_types()
    for candidate in candidates:
        text = fold(str(candidate or ""))
        key = text.replace(" ", "_")
        if key in known:
            return known[key]
        found = named_in(text, known)
        if found:
            return found
    return None


def named_in(text: str, vocabulary: dict[str, ServiceType]) -> ServiceType | None:
    """The entry of a vocabulary whose longest synonym occurs in ``text`` as whole
    words ("violencia de genero" beats "mujeres"), or None."""
    line = word_line(text)
    found = [
        (len(synonym), entry)
        for entry in vocabulary.values()
        for synonym in entry.synonyms
        if has_phrase(line, synonym)
    ]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def clean_place(value: object) -> str | None:
    """A typed place, tidied for display, or None when nothing usable is left."""
    candidates = value if isinstance(value, list) else [value]
    for candidate in candidates:
        text = " ".join(str(candidate or "").split()).strip(" .,;:!?¿¡")
        if any(ch.isalnum() for ch in text):
            return text[:MAX_PLACE_CHARS]
    return None


POPULATIONS = VOCABULARY.with_name("populations.yml")


@cache
def populations(path: Path = POPULATIONS) -> dict[str, ServiceType]:
    """Who a service serves; same shape as the service types (label + synonyms)."""
    return service_types(path)


def population_in(text: str) -> str | None:
    """The group a person says they belong to ("soy mujer", "mis hijos"), or None."""
    group = named_in(text, populations())
    return group.id if group else None
