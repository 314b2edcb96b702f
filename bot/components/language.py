"""NLU component: reads each message's language evidence (see amparo.language)."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from amparo.language import LanguageIdentifier
from bot.components import ConfiguredComponent

# Key of the evidence in the parse data; bot.policies.language reads it.
LANGUAGE_GUESS = "language_guess"
# Button payloads ("/find_service") are not the person's words.
PAYLOAD_PREFIX = "/"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class LanguageIdentification(ConfiguredComponent):
    """Adds ``language_guess``: scores, explicit request, foreign language, hint.

    It only gathers evidence: the conversation-aware decision needs the tracker, which
    NLU components do not see, so ``LanguagePolicy`` makes it.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"languages": ["es", "en", "pt"], "foreign": []}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._identifier = LanguageIdentifier(config["languages"], config["foreign"])
        self._identifier.warm_up()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(PAYLOAD_PREFIX):
                # A button or a command (Telegram's /start) says nothing of the
                # language, but the channel's hint may ("language_code").
                text = ""
            guess = self._identifier.guess(text, message.get("metadata"))
            message.set(LANGUAGE_GUESS, guess.as_dict(), add_to_output=True)
        return messages
