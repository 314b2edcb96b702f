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

from amparo.cues import has_danger_cue
from amparo.text import has_words
from bot.components import ConfiguredComponent
from bot.components.language import LANGUAGE_GUESS, PAYLOAD_PREFIX

UNREADABLE = "unreadable"
UNSUPPORTED_LANGUAGE = "unsupported_language"
# A message the model reads as danger keeps that reading, whatever its language looks
# like; one with a danger cue gets it (amparo/data/danger_cues.yml).
EMERGENCY = "emergency"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class InputGuard(ConfiguredComponent):
    """Runs last: a classifier always picks some intent, even for "😀😀" or German.

    Empty, emoji-only or punctuation-only messages become ``unreadable``; a message
    with a danger cue becomes ``emergency`` whatever else it asks for; a message that
    is confidently in a language we do not answer in becomes ``unsupported_language``.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(PAYLOAD_PREFIX):
                continue
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if not has_words(text):
                _override_intent(message, UNREADABLE)
            elif intent != EMERGENCY and has_danger_cue(text):
                _override_intent(message, EMERGENCY)
            elif intent != EMERGENCY and (message.get(LANGUAGE_GUESS) or {}).get(
                "foreign"
            ):
                _override_intent(message, UNSUPPORTED_LANGUAGE)
        return messages


def _override_intent(message: Message, name: str) -> None:
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
    message.set(ENTITIES, [], add_to_output=True)
