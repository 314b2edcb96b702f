"""Which language a person writes in, from one short chat message and its context.

Four layers, each measured in ``bench/language.py``:

1. lingua's character n-gram models, restricted to the supported languages (offline,
   shipped inside the wheel, deterministic);
2. a unigram model from wordfreq's word frequencies (also shipped inside the wheel):
   one or two words are a vocabulary question more than an n-gram one;
3. per-language chat markers from data files (``languages/<code>.yml``): words such as
   "obg", "porfa", "pls" that formal corpora barely know, and words no list knows but
   the language's own endings make of a common word ("recarguita", "cansadisima",
   "cafezinho": ``derivations``);
4. conversation context, applied by :func:`decide`: an explicit request wins and sticks,
   the current language is a strong prior, a channel hint (Telegram ``language_code``,
   the phone number's calling code) a weak one.

Adding a language is data: ``languages/<code>.yml`` and its code in ``config.yml``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import wordfreq
import yaml
from lingua import IsoCode639_1, LanguageDetectorBuilder

from amparo.text import fold, has_phrase, phrase, word_line, words

PROFILES_DIR = Path(__file__).with_name("languages")
# Words shared by our languages ("ok", "no", "socorro"): no evidence either way.
NEUTRAL_FILE = "neutral.yml"

# How much one chat marker counts against the models' estimate (odds multiplier).
MARKER_ODDS = 12.0
# Weight of lingua's n-gram estimate beside the word-frequency one.
NGRAM_WEIGHT = 0.5
# Word frequencies below this are dropped (keeps ~100k words a language, ~60 MB).
MIN_WORD_FREQUENCY = 1e-7
# Frequency given to a word a language's list does not have.
UNSEEN_WORD_FREQUENCY = 1e-8
_REPEATS = re.compile(r"(.)\1+")
# Odds the evidence must reach to move away from the conversation's current language.
CURRENT_ODDS = 6.0
# A channel hint only breaks near-ties on a first message.
HINT_ODDS = 1.5
# Longest message read as a language request ("puedes hablarme en ingles por favor").
MAX_REQUEST_WORDS = 8
# A message must have this many words before it can be called another language.
MIN_FOREIGN_WORDS = 3
MIN_FOREIGN_CONFIDENCE = 0.6
# ...and at most one word in this many may be one of our markers, and fewer than half
# of its words common words (this frequency or more) of one of our languages.
MAX_FOREIGN_MARKER_SHARE = 3
MIN_KNOWN_FREQUENCY = 1e-5
# A derived word ("recarguita") keeps at least this many letters of its base, a word
# at least this frequent.
MIN_STEM_LETTERS = 3
MIN_BASE_FREQUENCY = 1e-6


@dataclass(frozen=True)
class LanguageProfile:
    """What the project knows about one language: data, never code."""

    code: str
    names: frozenset[str]
    markers: frozenset[str]
    negations: tuple[str, ...] = ()
    calling_codes: frozenset[str] = frozenset()
    # The service search: words before a place ("estoy en"), phrases asking for places
    # open now, and how a reply writes days and decimals.
    place_fillers: frozenset[str] = frozenset()
    generic_places: frozenset[str] = frozenset()  # "el centro": not a town
    open_now: tuple[str, ...] = ()
    weekdays: tuple[str, ...] = ()  # Monday first
    tomorrow: str = ""
    decimal_separator: str = "."
    # Phrases that say where the person is ("estoy en"), and words without which a
    # message is not a refusal ("no", "más tarde"): see answers_where.
    place_frames: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    # Whole messages that are a command ("borrar", "salir"): (intent, phrases) pairs.
    commands: tuple[tuple[str, frozenset[str]], ...] = ()
    # Endings that make a word of a common one (diminutives, superlatives...):
    # (ending, what it replaces) pairs, "guita" -> "ga" makes "recarguita" of "recarga".
    derivations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def load(cls, code: str, directory: Path = PROFILES_DIR) -> LanguageProfile:
        path = directory / f"{code}.yml"
        if not path.is_file():
            raise ValueError(f"no language profile for '{code}': expected {path}")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if data.get("code") != code:
            raise ValueError(f"{path}: 'code' must be '{code}'")
        return cls(
            code=code,
            names=frozenset(_folded_words(data, "names", path)),
            markers=frozenset(_folded_words(data, "markers", path)),
            negations=tuple(_folded_words(data, "negations", path)),
            calling_codes=frozenset(_folded_words(data, "calling_codes", path)),
            place_fillers=frozenset(_folded_words(data, "place_fillers", path)),
            generic_places=frozenset(_folded_words(data, "generic_places", path)),
            open_now=tuple(_folded_words(data, "open_now", path)),
            weekdays=tuple(data["weekdays"]),
            tomorrow=data["tomorrow"],
            decimal_separator=data["decimal_separator"],
            place_frames=tuple(_folded_words(data, "place_frames", path)),
            refusals=tuple(_folded_words(data, "refusals", path)),
            commands=tuple(
                (intent, frozenset(_folded_words(data["commands"], intent, path)))
                for intent in data.get("commands") or {}
            ),
            derivations=_derivations(data, path),
        )


@dataclass(frozen=True)
class LanguageGuess:
    """The evidence one message gives about its language, before context is applied."""

    scores: Mapping[str, float]
    explicit: str | None = None
    foreign: str | None = None
    # Words that carry evidence: neutral ones ("ok", "no") are not counted.
    word_count: int = 0
    hint: str | None = None

    def as_dict(self) -> dict:
        return {
            "scores": dict(self.scores),
            "explicit": self.explicit,
            "foreign": self.foreign,
            "word_count": self.word_count,
            "hint": self.hint,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> LanguageGuess:
        return cls(
            scores=dict(data["scores"]),
            explicit=data.get("explicit"),
            foreign=data.get("foreign"),
            word_count=int(data.get("word_count", 0)),
            hint=data.get("hint"),
        )


@dataclass
class LanguageIdentifier:
    """Guesses the language of short chat messages among ``languages``.

    ``foreign`` names languages we do not answer in but want to recognise, so that a
    person writing French is told which languages we speak instead of being misread.
    """

    languages: Sequence[str]
    foreign: Sequence[str] = ()
    profiles_dir: Path = PROFILES_DIR
    profiles: dict[str, LanguageProfile] = field(init=False)
    neutral: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("at least one supported language is required")
        self.profiles = {
            c: LanguageProfile.load(c, self.profiles_dir) for c in self.languages
        }
        neutral = self.profiles_dir / NEUTRAL_FILE
        data = (
            yaml.safe_load(neutral.read_text(encoding="utf-8"))
            if neutral.is_file()
            else {}
        )
        self.neutral = frozenset(_folded_words(data or {}, "words", neutral))

    @cached_property
    def _detector(self):
        return _lingua(self.languages)

    @cached_property
    def _wide_detector(self):
        # Low-accuracy (trigram) models: 32 MB instead of 380 MB for 16 languages, and
        # only used to tell "clearly another language" on messages of 3+ words.
        if not self.foreign:
            return None
        return _lingua([*self.languages, *self.foreign], low_accuracy=True)

    @cached_property
    def _frequencies(self) -> dict[str, dict[str, float]]:
        """Accent-free word -> frequency per language (empty: wordfreq lacks it).

        Built from wordfreq's frequency buckets (bucket i holds the words of frequency
        10^(-i/100)); wordfreq memoises each full list (~1M words) for good, so its
        caches are cleared once the ~100k words a language we keep are copied: 64 MB
        instead of 150 MB in the server.

        A language's chat markers count as common words of it, however rarely the
        corpora write them: "bacano" is in none of Spanish's ~100k words but in
        Portuguese's, at 1.4e-6, which outweighed the marker.
        """
        tables = {}
        available = wordfreq.available_languages()
        for code in self.languages:
            table: dict[str, float] = defaultdict(float)
            buckets = wordfreq.get_frequency_list(code) if code in available else []
            for index, bucket in enumerate(buckets):
                frequency = 10 ** (-index / 100)
                if frequency < MIN_WORD_FREQUENCY:
                    break
                for word in bucket:
                    table[fold(word)] += frequency
            for marker in self.profiles[code].markers:
                table[marker] = max(table[marker], MIN_KNOWN_FREQUENCY)
            tables[code] = dict(table)
        wordfreq.get_frequency_list.cache_clear()
        wordfreq.get_frequency_dict.cache_clear()
        return tables

    def warm_up(self) -> None:
        """Load the models now, so the first message is not the slow one."""
        self._frequencies  # noqa: B018 - builds the cached tables
        self._detector.compute_language_confidence_values("warm up")
        if self._wide_detector:
            self._wide_detector.compute_language_confidence_values("warm up")

    def guess(self, text: str, metadata: Mapping | None = None) -> LanguageGuess:
        """The evidence in ``text``; ``metadata`` is what the channel knows (hints)."""
        hint = self.hint(metadata)
        tokens = [self._known_form(t) for t in words(text)]
        tokens = [t for t in tokens if t not in self.neutral]
        if not tokens:
            uniform = 1.0 / len(self.languages)
            return LanguageGuess({c: uniform for c in self.languages}, hint=hint)
        log_odds = self._model_log_odds(" ".join(tokens))
        for code, table in self._frequencies.items():
            log_odds[code] += sum(
                math.log(table.get(t, 0.0) + UNSEEN_WORD_FREQUENCY) for t in tokens
            )
        hits = {
            c: sum(t in p.markers or self._derived(t, c) for t in tokens)
            for c, p in self.profiles.items()
        }
        for code, count in hits.items():
            log_odds[code] += count * math.log(MARKER_ODDS)
        scores = _softmax(log_odds)
        return LanguageGuess(
            scores=scores,
            explicit=self.explicit_request(text),
            foreign=self._foreign(text, tokens, marker_hits=sum(hits.values())),
            word_count=len(tokens),
            hint=hint,
        )

    def explicit_request(self, text: str) -> str | None:
        """The language a short message asks for by name ("english please").

        A mention under a negation ("no hablo ingles", "i dont speak spanish") is not a
        request; nor is a long message that merely names a language.
        """
        tokens = words(text)
        if not tokens or len(tokens) > MAX_REQUEST_WORDS:
            return None
        named = [c for c, p in self.profiles.items() if p.names.intersection(tokens)]
        if len(named) != 1:
            return None
        line = word_line(text)
        for profile in self.profiles.values():
            if any(has_phrase(line, n) for n in profile.negations):
                return None
        return named[0]

    def hint(self, metadata: Mapping | None) -> str | None:
        """A weak prior from the channel: Telegram's language_code, the calling code."""
        if not metadata:
            return None
        tag = str(metadata.get("language_code") or "").split("-")[0].lower()
        if tag in self.profiles:
            return tag
        calling = str(metadata.get("calling_code") or "").lstrip("+")
        # The longest matching prefix wins: 1868 (Trinidad) before 1 (USA/Canada).
        for length in range(len(calling), 0, -1):
            for code, profile in self.profiles.items():
                if calling[:length] in profile.calling_codes:
                    return code
        return None

    def _known_form(self, token: str) -> str:
        """ "graciass", "heeelp", "oii" -> the form a list knows, if collapsing repeats
        finds one; otherwise the token as typed."""
        if self._is_known(token):
            return token
        collapsed = _REPEATS.sub(r"\1", token)
        return collapsed if self._is_known(collapsed) else token

    def _derived(self, token: str, code: str) -> bool:
        """Whether a word no list knows is a common word of ``code`` with one of the
        language's endings ("recarguita": "recarga" with "ga" made "guita"). Such a
        word counts as a chat marker of the language."""
        if self._is_known(token):
            return False
        table = self._frequencies[code]
        return any(
            len(token) - len(ending) >= MIN_STEM_LETTERS
            and table.get(token.removesuffix(ending) + base, 0.0) >= MIN_BASE_FREQUENCY
            for ending, base in self.profiles[code].derivations
            if token.endswith(ending)
        )

    def _is_known(self, token: str) -> bool:
        return any(token in t for t in self._frequencies.values()) or any(
            token in p.markers for p in self.profiles.values()
        )

    def _model_log_odds(self, text: str) -> dict[str, float]:
        values = {
            c.language.iso_code_639_1.name.lower(): c.value
            for c in self._detector.compute_language_confidence_values(text)
        }
        # Smoothing lets the word evidence outweigh a confident but wrong model.
        return {
            c: NGRAM_WEIGHT * math.log(values.get(c, 0.0) + 0.02)
            for c in self.languages
        }

    def _foreign(self, text: str, tokens: list[str], marker_hits: int) -> str | None:
        # A stray shared word ("un" in French) must not hide French; a message made
        # largely of our markers is ours whatever the wide model says.
        if self._wide_detector is None or len(tokens) < MIN_FOREIGN_WORDS:
            return None
        if marker_hits * MAX_FOREIGN_MARKER_SHARE > len(tokens):
            return None
        # "mi esposo me pega" reads as Italian to the wide model; every word of it is a
        # common Spanish word. Such a message is ours, whatever the model says.
        for table in self._frequencies.values():
            known = sum(table.get(t, 0.0) >= MIN_KNOWN_FREQUENCY for t in tokens)
            if known * 2 >= len(tokens):
                return None
        top = self._wide_detector.compute_language_confidence_values(text)[0]
        code = top.language.iso_code_639_1.name.lower()
        if code not in self.profiles and top.value >= MIN_FOREIGN_CONFIDENCE:
            return code
        return None


@cache
def _profiles(directory: Path = PROFILES_DIR) -> tuple[LanguageProfile, ...]:
    return tuple(
        LanguageProfile.load(path.stem, directory)
        for path in sorted(directory.glob("*.yml"))
        if path.name != NEUTRAL_FILE
    )


def answers_where(text: str) -> bool:
    """Whether a message says where the person is ("estoy en narnia") and refuses
    nothing: an answer to "where are you?", whatever a model makes of a place name it
    has never seen (a trained model read "estoy en narnia" as "no")."""
    line = word_line(text)
    profiles = _profiles()

    def says(phrases: Iterable[str]) -> bool:
        return any(has_phrase(line, stored) for stored in phrases)

    return any(says(p.place_frames) for p in profiles) and not any(
        says(p.refusals) for p in profiles
    )


def command_in(text: str) -> str | None:
    """The command a whole message is ("BORRAR" → ``delete_data``, "sair" →
    ``quick_exit``) in any language we answer in, or None."""
    said = phrase(text)
    for profile in _profiles():
        for intent, phrases in profile.commands:
            if said in phrases:
                return intent
    return None


@cache
def _calling_codes() -> tuple[str, ...]:
    codes = {code for profile in _profiles() for code in profile.calling_codes}
    return tuple(sorted(codes, key=len, reverse=True))


def calling_code(number: str) -> str | None:
    """The calling code a phone number starts with, among those the language profiles
    know ("+573001234567" → "57"): a weak language hint that tells nothing more of the
    number. None for other countries."""
    digits = number.removeprefix("whatsapp:").lstrip("+")
    return next((code for code in _calling_codes() if digits.startswith(code)), None)


def decide(
    guess: LanguageGuess | None,
    *,
    current: str | None,
    default: str,
    locked: bool = False,
) -> str:
    """The language to answer in, given one message's evidence and the conversation.

    An explicit request always wins. A locked language (chosen explicitly earlier) stays
    until the person asks again, and so does the current one when the message has no
    words or is in a language we do not answer in. Otherwise the message must beat the
    current language by ``CURRENT_ODDS`` to switch; a first message with nothing to go
    on falls back on the channel hint, then the default.
    """
    if guess is not None and guess.explicit:
        return guess.explicit
    unreadable = guess is None or guess.word_count == 0 or guess.foreign is not None
    if current and (locked or unreadable):
        return current
    if unreadable:
        return (guess.hint if guess else None) or default
    log_scores = {c: math.log(max(s, 1e-9)) for c, s in guess.scores.items()}
    if current in log_scores:
        log_scores[current] += math.log(CURRENT_ODDS)
    elif guess.hint in log_scores:
        log_scores[guess.hint] += math.log(HINT_ODDS)
    return max(log_scores, key=log_scores.__getitem__)


def _folded_words(data: Mapping, key: str, path: Path) -> list[str]:
    """The entries of a word list as phrases; unquoted YAML booleans are refused."""
    entries = data.get(key) or []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(
                f"{path}: '{key}' has {entry!r}; quote it (no, yes, on, off are "
                "booleans in YAML, and numbers must be strings)"
            )
    return [phrase(entry) for entry in entries]


def _derivations(data: Mapping, path: Path) -> tuple[tuple[str, str], ...]:
    pairs = (data.get("derivations") or {}).items()
    for pair in pairs:
        if not all(isinstance(part, str) for part in pair):
            raise ValueError(
                f"{path}: 'derivations' has {pair!r}; quote both sides (on, no, yes "
                "are booleans in YAML)"
            )
    return tuple((fold(ending), fold(base)) for ending, base in pairs)


def _lingua(codes: Iterable[str], *, low_accuracy: bool = False):
    iso = [IsoCode639_1.from_str(c) for c in codes]
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*iso)
    builder = builder.with_preloaded_language_models()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def _softmax(log_odds: Mapping[str, float]) -> dict[str, float]:
    top = max(log_odds.values())
    exp = {c: math.exp(v - top) for c, v in log_odds.items()}
    total = sum(exp.values())
    return {c: v / total for c, v in exp.items()}
