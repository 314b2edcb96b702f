"""The domain's responses, for the texts sent outside a Rasa turn (the caseworker
desk's notices, the channels' replies while a case is open): one place for every
text the person reads, bot/domain/*.yml, whoever sends it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from amparo.settings import ROOT

DOMAIN = ROOT / "bot" / "domain"


class Responses:
    def __init__(self, directory: Path = DOMAIN):
        self._texts: dict[tuple[str, str], str] = {}
        for path in sorted(directory.glob("*.yml")):
            responses = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for name, variations in (responses.get("responses") or {}).items():
                for variation in variations:
                    language = next(
                        c["value"]
                        for c in variation.get("condition", [])
                        if c.get("name") == "language"
                    )
                    self._texts[name, language] = " ".join(variation["text"].split())

    def text(self, name: str, language: str, **values: str) -> str:
        """The response in ``language`` with its placeholders filled; KeyError when the
        domain has no such response or language."""
        return self._texts[name, language].format(**values)


@cache
def responses() -> Responses:
    return Responses()
