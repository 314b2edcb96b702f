"""Sets the ``language`` slot from each message's evidence and the conversation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from amparo.language import LanguageGuess, decide
from bot.components.language import LANGUAGE_GUESS

LANGUAGE_SLOT = "language"
LOCKED_SLOT = "language_locked"
CHOOSE_LANGUAGE_INTENT = "choose_language"
PLACE_SLOT = "place"
INFORM_PLACE_INTENT = "inform_place"
# An answer to "where are you?" this short is a place name: "San José", "tumbes".
MAX_PLACE_ANSWER_WORDS = 3


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class LanguagePolicy(Policy):
    """Never predicts an action; it only sets the language slot.

    Rasa applies the ``events`` of every policy's prediction, winner or not, to the
    tracker before the chosen action runs (``DefaultPolicyPredictionEnsemble``), so the
    reply to a message is already in that message's language. Doing this here rather
    than in a custom action keeps it in-process and sees the current language, which
    an NLU component cannot.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**Policy.get_default_config(), "priority": 0, "default": "es"}

    def train(
        self,
        training_trackers: list[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        return self._prediction(
            self._default_predictions(domain),
            events=language_events(tracker, domain, default=self.config["default"]),
        )


def language_events(
    tracker: DialogueStateTracker, domain: Domain, *, default: str
) -> list[Event]:
    """The slot events that make the tracker's language follow its latest message.

    Idempotent: once applied, calling it again for the same message returns nothing,
    which matters because policies predict after every action of a turn.
    """
    message = tracker.latest_message
    if message is None:
        return []
    supported = answered_languages(domain)
    data = message.parse_data.get(LANGUAGE_GUESS)
    guess = LanguageGuess.from_dict(data) if data else None
    if guess is not None and guess.explicit not in supported:
        guess = replace(guess, explicit=None)
    # Typed text was checked for an explicit request, negations included ("no hablo
    # ingles" is not one); the model's language entity only counts for menu payloads,
    # which carry no evidence of their own (at most the channel's hint).
    wordless = guess is None or guess.word_count == 0
    chosen = _chosen_language(message.parse_data) if wordless else None
    if chosen in supported:
        guess = replace(guess or LanguageGuess({chosen: 1.0}), explicit=chosen)
    current = tracker.get_slot(LANGUAGE_SLOT)
    if wordless and current and not (guess and guess.explicit):
        return []
    # Place names are not evidence: "San José" in a Portuguese conversation stays
    # Portuguese. An explicit request still counts.
    if (
        current
        and guess is not None
        and not guess.explicit
        and _only_a_place(tracker, guess)
    ):
        return []
    locked = bool(tracker.get_slot(LOCKED_SLOT))
    language = decide(guess, current=current, default=default, locked=locked)
    if language not in supported:
        language = default
    events: list[Event] = []
    if language != current:
        events.append(SlotSet(LANGUAGE_SLOT, language))
    if guess is not None and guess.explicit and not locked:
        events.append(SlotSet(LOCKED_SLOT, True))
    return events


def answered_languages(domain: Domain) -> frozenset[str]:
    """Languages the domain has replies in: the values its responses are conditioned on.

    A forged payload ``/choose_language{"language": "xx"}`` must not select a language
    with no replies, or the person would get silence.
    """
    return frozenset(
        condition["value"]
        for variations in domain.responses.values()
        for variation in variations
        for condition in variation.get("condition") or []
        if condition.get("name") == LANGUAGE_SLOT
    )


def _only_a_place(tracker: DialogueStateTracker, guess: LanguageGuess) -> bool:
    """The message is just a place: tagged as one, or a short answer to the place
    question read as a place (never a danger message: "me siguen" keeps its
    language)."""
    message = tracker.latest_message
    text = message.text or ""
    spans = [
        (e["start"], e["end"])
        for e in message.parse_data.get("entities") or []
        if e.get("entity") == PLACE_SLOT and "start" in e
    ]
    rest = "".join(
        ch for i, ch in enumerate(text) if not any(a <= i < b for a, b in spans)
    )
    if spans and not any(ch.isalnum() for ch in rest):
        return True
    intent = (message.parse_data.get("intent") or {}).get("name")
    asked = tracker.get_slot("requested_slot") == PLACE_SLOT
    return (
        asked
        and intent == INFORM_PLACE_INTENT
        and guess.word_count <= MAX_PLACE_ANSWER_WORDS
    )


def _chosen_language(parse_data: dict[str, Any]) -> str | None:
    """The language picked from the menu (a choose_language payload)."""
    if (parse_data.get("intent") or {}).get("name") != CHOOSE_LANGUAGE_INTENT:
        return None
    for entity in parse_data.get("entities") or []:
        if entity.get("entity") == LANGUAGE_SLOT and entity.get("value"):
            return str(entity["value"])
    return None
