"""Text normalisation shared by language identification, cue matching and the guard."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# Longer "words" are keyboard mashing or pasted noise ("xxxx…" 10,000 times).
MAX_WORD_CHARS = 40


def strip_control(text: str) -> str:
    """Drop control and format characters (keeps ordinary white space)."""
    return "".join(
        ch if ch in "\n\t " or unicodedata.category(ch)[0] != "C" else " "
        for ch in text
    )


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced form used for matching.

    People on cheap phones rarely type accents, so "Tá bom", "ta bom" and "TA  BOM"
    must all compare equal.
    """
    text = unicodedata.normalize("NFKD", strip_control(text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("’", "'")
    return _SPACES.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """The folded words of ``text`` (letters and digits only)."""
    return _WORD.findall(fold(text))


def has_words(text: str) -> bool:
    """True when the text has at least one word: not only emoji, symbols or noise."""
    return any(len(w) <= MAX_WORD_CHARS for w in _WORD.findall(text or ""))


def phrase(text: str) -> str:
    """The folded words of ``text`` joined by single spaces: how data phrases (cues,
    synonyms, negations, markers) are stored, so they compare equal to typed text."""
    return " ".join(words(text))


def word_line(text: str) -> str:
    """:func:`phrase` of ``text`` between spaces, for whole-word :func:`has_phrase`."""
    return f" {phrase(text)} "


def has_phrase(line: str, stored: str) -> bool:
    """Whether a stored :func:`phrase` occurs in a :func:`word_line` as whole words."""
    return f" {stored} " in line
