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

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.svm import LinearSVC

from amparo.cues import CATEGORIES
from amparo.text import phrase

# The label of everything that is not a disclosure (a request for a person included:
# the guard reads that from its own words).
NONE = "none"
LABELS = (*CATEGORIES, NONE)
# The features: character n-grams within words, and words and word pairs.
_FEATURES = {
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5)},
    "word": {"analyzer": "word", "ngram_range": (1, 2)},
}


class DisclosureModel:
    """Reads a message as one of ``CATEGORIES`` or as ``NONE``.

    ``lean``: how far below ``NONE``'s score the best category may score and still
    be read (recall comes first: a miss costs the numbers and the offer of a person,
    a false alarm a reply the person can decline). 0 reads the higher score; a
    negative lean asks a category to beat ``NONE`` by that much.
    """

    def __init__(self, pipeline: Pipeline, lean: float = 0.0) -> None:
        unknown = set(pipeline.classes_) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown disclosure labels {sorted(unknown)}")
        if NONE not in pipeline.classes_:
            raise ValueError(f"a disclosure model needs the label {NONE!r}")
        self._pipeline = pipeline
        self._none = list(pipeline.classes_).index(NONE)
        self._lean = lean

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
        pipeline = make_pipeline(
            make_union(*(_vectorizer(**f) for f in _FEATURES.values())),
            LinearSVC(C=c, class_weight="balanced", random_state=0),
        )
        return cls(pipeline.fit([text for text, _ in pairs], labels))

    def read(self, text: str) -> str | None:
        """The category ``text`` discloses, or None."""
        folded = phrase(text)
        if not folded:
            return None
        scores = self._pipeline.decision_function([folded])[0]
        if np.ndim(scores) == 0:  # two labels: one plane, positive for the second
            scores = np.array([-scores, scores])
        none = scores[self._none]
        scores[self._none] = -np.inf
        best = int(np.argmax(scores))
        if scores[best] <= none - self._lean:
            return None
        return str(self._pipeline.classes_[best])

    def save(self, path: Path) -> None:
        """Numbers and strings only (NumPy's format, no pickle): the vocabularies,
        their weights and the separating planes, about 2 MB."""
        union, svm = (step for _, step in self._pipeline.steps)
        arrays = {"coef": svm.coef_, "intercept": svm.intercept_}
        arrays["classes"] = np.asarray(svm.classes_, dtype=str)
        fitted = (vectorizer for _, vectorizer in union.transformer_list)
        for name, vectorizer in zip(_FEATURES, fitted, strict=True):
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
            arrays[f"{name}_terms"] = np.asarray(terms, dtype=str)
            arrays[f"{name}_idf"] = vectorizer.idf_
        with path.open("wb") as file:
            np.savez_compressed(file, **arrays)

    @classmethod
    def load(cls, path: Path, lean: float = 0.0) -> DisclosureModel:
        # allow_pickle=False: a model file holds numbers and strings, never code.
        with np.load(path, allow_pickle=False) as saved:
            vectorizers = []
            for name, features in _FEATURES.items():
                terms = [str(term) for term in saved[f"{name}_terms"]]
                vectorizer = _vectorizer(vocabulary=terms, **features)
                vectorizer.idf_ = saved[f"{name}_idf"]
                vectorizers.append(vectorizer)
            svm = LinearSVC()
            svm.coef_, svm.intercept_ = saved["coef"], saved["intercept"]
            svm.classes_ = saved["classes"]
        return cls(make_pipeline(make_union(*vectorizers), svm), lean)


def _vectorizer(**config: object) -> TfidfVectorizer:
    return TfidfVectorizer(sublinear_tf=True, **config)
