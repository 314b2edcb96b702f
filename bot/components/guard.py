"""NLU component: unreadable or foreign-language messages get an intent of their own."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from amparo.cues import asks_for_person, disclosure_in
from amparo.language import answers_where
from amparo.text import has_words
from bot.components import ConfiguredComponent
from bot.components.language import LANGUAGE_GUESS, PAYLOAD_PREFIX

UNREADABLE = "unreadable"
UNSUPPORTED_LANGUAGE = "unsupported_language"
REQUEST_HUMAN, ASK_HELP = "request_human", "ask_help"
REFUSALS, INFORM_PLACE = frozenset({"deny", "later"}), "inform_place"
# The intent of each disclosure category (amparo/cues.py). A message the model reads
# as a disclosure keeps that reading, unless it is confidently in a language we do not
# read and the reading is not danger (see InputGuard); one with a cue gets the cue's
# category (amparo/data/cues/).
DISCLOSURE_INTENTS = {
    "danger": "emergency",
    "self_harm": "disclose_self_harm",
    "child_at_risk": "disclose_child_at_risk",
    "trafficking": "disclose_trafficking",
    "violence": "disclose_violence",
}


# Readings whose reply is the emergency numbers: kept in any language.
NUMBERS_FIRST = {"emergency", "disclose_self_harm"}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class InputGuard(ConfiguredComponent):
    """Runs last: a classifier always picks some intent, even for "😀😀" or German.

    Empty, emoji-only or punctuation-only messages become ``unreadable``; a message
    with a disclosure cue becomes that disclosure whatever else it asks for ("me estan
    siguiendo y necesito un albergue" is ``emergency``); ``request_human`` without a
    word for a person ("necesito ayuda porfa") becomes ``ask_help``; a refusal that
    says where the person is and has no refusal word ("estoy en narnia") becomes
    ``inform_place``; a message that is confidently in a language we do not answer
    in, with no cue, becomes ``unsupported_language``.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def process(self, messages: list[Message]) -> list[Message]:
        disclosures = set(DISCLOSURE_INTENTS.values())
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(PAYLOAD_PREFIX):
                continue
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            category = disclosure_in(text)
            if not has_words(text):
                _override_intent(message, UNREADABLE)
            elif intent not in disclosures and category:
                _override_intent(message, DISCLOSURE_INTENTS[category])
            elif intent == REQUEST_HUMAN and not asks_for_person(text):
                # Opening a case needs a request for a person, not any plea for help.
                _override_intent(message, ASK_HELP)
            elif intent in REFUSALS and answers_where(text):
                # A town the model has never seen can look to it like "no": answering
                # "where are you?" must not end the search.
                _override_intent(message, INFORM_PLACE, keep_entities=True)
            elif (
                not category
                and intent not in NUMBERS_FIRST
                and (message.get(LANGUAGE_GUESS) or {}).get("foreign")
            ):
                # Our model cannot read French or German: what it makes of them is
                # noise, even a disclosure; the reply says which languages we speak.
                # A reading of danger stands: the numbers help in any language.
                _override_intent(message, UNSUPPORTED_LANGUAGE)
        return messages


def _override_intent(message: Message, name: str, keep_entities: bool = False) -> None:
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
    if not keep_entities:
        message.set(ENTITIES, [], add_to_output=True)
