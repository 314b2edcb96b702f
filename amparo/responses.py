"""The domain's responses, for the texts sent outside a Rasa turn (the caseworker
desk's notices, the channels' replies while a case is open): one place for every
text the person reads, bot/domain/*.yml, whoever sends it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from amparo.settings import ROOT

DOMAIN = ROOT / "bot" / "domain"


class Responses:
    def __init__(self, directory: Path = DOMAIN):
        self._texts: dict[tuple[str, str], str] = {}
        self._patterns: list[tuple[re.Pattern, str]] = []
        for path in sorted(directory.glob("*.yml")):
            responses = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for name, variations in (responses.get("responses") or {}).items():
                for variation in variations:
                    language = next(
                        c["value"]
                        for c in variation.get("condition", [])
                        if c.get("name") == "language"
                    )
                    text = " ".join(variation["text"].split())
                    if not variation.get("channel"):  # a channel's own is shorter
                        self._texts[name, language] = text
                    parts = re.split(r"\{[^{}]+\}", text)
                    pattern = "(.+)".join(re.escape(p) for p in parts)
                    self._patterns.append((re.compile(f"^{pattern}$", re.S), language))

    def text(self, name: str, language: str, /, **values: str) -> str:
        """The response in ``language`` with its placeholders filled; KeyError when the
        domain has no such response or language."""
        return self._texts[name, language].format(**values)

    def language_of(self, text: str) -> str | None:
        """The language of a text the domain produced (placeholders filled), or None
        when it is not one of the domain's texts or fits several languages."""
        text = " ".join(text.split())
        found = {lang for pattern, lang in self._patterns if pattern.match(text)}
        return found.pop() if len(found) == 1 else None


@cache
def responses() -> Responses:
    return Responses()
