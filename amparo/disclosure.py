"""Disclosure classifier: whether a message discloses harm, and which kind.

The intent model reads disclosures among twenty intents, and where it draws the line
between "mi pareja me pega" and "mi jefa me va a matar jaja" moves with the machine it
was trained on (TensorFlow's kernels differ from one CPU to the next). This model has
one job: a linear support-vector machine over word (1–2) and character (2–5) n-grams
of the folded words (amparo.text.phrase). It trains in about a second, needs no
TensorFlow and gives the same model from the same examples. With the cue lexicon
(amparo/cues.py) it decides whether a message is a disclosure (the intent model's
danger and self-harm count too: bot/components/guard.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import skops.io
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.svm import LinearSVC

from amparo.cues import CATEGORIES
from amparo.text import phrase

# The label of everything that is not a disclosure (a request for a person included:
# the guard reads that from its own words).
NONE = "none"
LABELS = (*CATEGORIES, NONE)
# What a saved model may hold besides sklearn's and numpy's own types (skops refuses
# anything else when loading: a model file cannot run code). scipy's private module
# path: the pinned scipy (requirements.lock) names it so.
_TRUSTED = ["scipy.sparse._csr.csr_matrix"]


class DisclosureModel:
    """Reads a message as one of ``CATEGORIES`` or as ``NONE``."""

    def __init__(self, pipeline: Pipeline) -> None:
        unknown = set(pipeline.classes_) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown disclosure labels {sorted(unknown)}")
        self._pipeline = pipeline

    @classmethod
    def train(
        cls, examples: Iterable[tuple[str, str]], c: float = 1.0
    ) -> DisclosureModel:
        """A model from (text, label) pairs; every label must be in ``LABELS``."""
        # Sorted: the solver visits examples in order, so the order of the files
        # would otherwise move the model (in the fifth decimal).
        pairs = sorted((phrase(text), label) for text, label in examples)
        labels = [label for _, label in pairs]
        if len(set(labels)) < 2:
            raise ValueError("a disclosure model needs disclosures and other messages")
        features = make_union(
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 5),
                sublinear_tf=True,
            ),
            TfidfVectorizer(
                analyzer="word",
                ngram_range=(1, 2),
                sublinear_tf=True,
            ),
        )
        pipeline = make_pipeline(
            features, LinearSVC(C=c, class_weight="balanced", random_state=0)
        )
        return cls(pipeline.fit([text for text, _ in pairs], labels))

    def read(self, text: str) -> str | None:
        """The category ``text`` discloses, or None."""
        folded = phrase(text)
        if not folded:
            return None
        label = str(self._pipeline.predict([folded])[0])
        return None if label == NONE else label

    def save(self, path: Path) -> None:
        skops.io.dump(self._pipeline, path)

    @classmethod
    def load(cls, path: Path) -> DisclosureModel:
        # skops.io.load refuses these too; checked first for a clear error.
        untrusted = set(skops.io.get_untrusted_types(file=path)) - set(_TRUSTED)
        if untrusted:
            raise ValueError(f"{path} holds types a disclosure model never has")
        return cls(skops.io.load(path, trusted=_TRUSTED))
