"""Danger cues: a phrase list that catches what the NLU model may read as a request."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from amparo.text import has_phrase, phrase, word_line

DANGER_CUES = Path(__file__).with_name("data") / "danger_cues.yml"


@cache
def _phrases(path: Path = DANGER_CUES) -> tuple[str, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(phrase(p) for phrases in data.values() for p in phrases)


def has_danger_cue(text: str) -> bool:
    """True when the text contains a danger phrase of any language, as whole words."""
    line = word_line(text)
    return any(has_phrase(line, phrase) for phrase in _phrases())
