"""Disclosure detection: recall and false alarms per category and language.

python -m bench.disclosure [--model models/amparo.tar.gz] [--errors [SET ...]]

Six labelled sets, each written without looking at the training data or the cue
lexicon: bench/data/disclosures_<lang>.tsv ("eval": the training data was extended
after looking at its kinds of error, so it is optimistic),
bench/data/fresh/disclosures_<lang>.tsv ("fresh": written later, blind; the
disclosure classifier was tried on it before its settings were chosen),
bench/data/third/disclosures_<lang>.tsv ("third": written blind after that, scored
once with the model it was written for; its misses were looked at later),
bench/data/fourth/disclosures_<lang>.tsv ("fourth": written blind later still),
bench/data/fifth/disclosures_<lang>.tsv ("fifth": later again) and
bench/data/sixth/disclosures_<lang>.tsv ("sixth": later again). No choice was made
on the fourth, fifth or sixth set: `--errors` lists their misses only when asked for
them by name. Every message goes through the trained model's whole NLU pipeline
(the intent model, the disclosure classifier, then the guard with the cue lexicon),
as in the running bot. A disclosure is caught when the message is read as a
disclosure intent (`emergency`, or any `disclose_*`), not merely as a request for a
person; a request for a person when it is read as `request_human` or a disclosure; a
look-alike ("me muero de hambre jaja") is a false alarm when it is read as either.
The other columns are the disclosure classifier alone and the cue lexicon alone.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import difflib
import logging
import os
import sys
from collections import defaultdict
from pathlib import Path

from amparo.cues import disclosure_in
from amparo.text import phrase
from bench.common import table

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
NLU = ROOT / "data" / "nlu"
SIMILAR = 0.85
LANGUAGES = ("es", "en", "pt")
CATEGORIES = (
    "violence",
    "trafficking",
    "child_at_risk",
    "self_harm",
    "danger",
    "human",
)
HUMAN = "request_human"


SETS = {
    "eval": DATA,
    "fresh": DATA / "fresh",
    "third": DATA / "third",
    "fourth": DATA / "fourth",
    "fifth": DATA / "fifth",
    "sixth": DATA / "sixth",
}
# The sets whose misses --errors lists without names: the others are kept blind.
LOOKED_AT = ("eval", "fresh", "third")


def load(lang: str, directory: Path) -> tuple[list[tuple[str, str]], int]:
    """The labelled messages of a language, without those the training data already
    holds (same words once folded, or 85 % alike): those would measure memory."""
    from rasa.shared.nlu.training_data.loading import load_data

    seen = [phrase(m.get("text")) for m in load_data(str(NLU / lang)).intent_examples]
    with (directory / f"disclosures_{lang}.tsv").open(encoding="utf-8") as file:
        rows = [
            (r["category"], r["text"]) for r in csv.DictReader(file, delimiter="\t")
        ]
    kept = [
        (category, text)
        for category, text in rows
        if not difflib.get_close_matches(phrase(text), seen, n=1, cutoff=SIMILAR)
    ]
    return kept, len(rows) - len(kept)


def is_disclosure(intent: str) -> bool:
    return intent == "emergency" or intent.startswith("disclose_")


async def read_all(model: Path, texts: list[str]) -> list[tuple[str, str | None]]:
    """(intent, the disclosure classifier's category) of each text."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from bot.components.disclosure import DISCLOSURE

    configure_structlog(logging.WARNING)  # not a debug line per message

    agent = Agent.load(str(model))
    readings = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = (parsed.get("intent") or {}).get("name") or ""
        readings.append((intent, parsed.get(DISCLOSURE)))
    return readings


def percent(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f} ({hits}/{total})" if total else "—"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "amparo.tar.gz")
    parser.add_argument(
        "--errors",
        nargs="*",
        choices=SETS,
        metavar="SET",
        help=f"list every miss of these sets (without names: {', '.join(LOOKED_AT)})",
    )
    args = parser.parse_args()
    rows, dropped = [], {}
    for name, directory in SETS.items():
        for lang in LANGUAGES:
            kept, dropped[name, lang] = load(lang, directory)
            rows += [(name, lang, category, text) for category, text in kept]
    readings = asyncio.run(read_all(args.model, [row[-1] for row in rows]))
    for name in SETS:
        print(f"\n#### Set: {name}\n")
        report(
            [
                (row[1:], reading)
                for row, reading in zip(rows, readings, strict=True)
                if row[0] == name
            ],
            {lang: dropped[name, lang] for lang in LANGUAGES},
            args.errors is not None and name in (args.errors or LOOKED_AT),
        )


def report(rows: list, dropped: dict[str, int], errors: bool) -> None:
    # (lang, category) → [messages, flagged by the bot, by the classifier, by cues]
    caught: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (lang, category, text), (intent, read) in rows:
        flagged = is_disclosure(intent)
        if category in ("human", "none"):
            flagged = flagged or intent == HUMAN
        counts = caught[(lang, category)]
        counts[0] += 1
        counts[1] += flagged
        counts[2] += read is not None
        counts[3] += disclosure_in(text) is not None
        wrong = flagged if category == "none" else not flagged
        if errors and wrong:
            print(f"  {lang} {category:13} read as {intent:22} {text}", file=sys.stderr)

    def cells(counts: list[int], category: str) -> list:
        n, bot, classifier, cue = counts
        # The classifier reads disclosures; a request for a person is the guard's.
        alone = "—" if category == "human" else percent(classifier, n)
        return [n, percent(bot, n), alone, percent(cue, n)]

    body = [
        [category, lang, *cells(caught[(lang, category)], category)]
        for category in CATEGORIES
        for lang in LANGUAGES
    ]
    totals = [
        sum(caught[(lang, c)][i] for lang in LANGUAGES for c in CATEGORIES[:5])
        for i in range(4)
    ]
    n, *rest = cells(totals, "all")
    body.append(["**all disclosures**", "es/en/pt", n, f"**{rest[0]}**", *rest[1:]])
    print(
        "Disclosures caught (recall %: as in the bot — intent model, disclosure\n"
        "classifier and cue lexicon —, the classifier alone, the lexicon alone):\n"
    )
    heads = ["messages", "recall %", "classifier alone %", "lexicon alone %"]
    print(table(["category", "lang", *heads], body))
    alarms = [[lang, *cells(caught[(lang, "none")], "none")] for lang in LANGUAGES]
    print("\nEveryday look-alikes flagged (false alarms %):\n")
    heads = ["messages", "false alarms %", "classifier alone %", "lexicon alone %"]
    print(table(["lang", *heads], alarms))
    left_out = ", ".join(f"{lang} {n}" for lang, n in dropped.items())
    print(f"\nLeft out because the training data has them or nearly: {left_out}.")


if __name__ == "__main__":
    main()
