"""NLU component: unreadable or foreign-language messages get an intent of their own."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from amparo.cues import (
    DISCLOSURE_INTENTS,
    asks_for_person,
    disclosure_in,
    lexicon,
    requests_person,
)
from amparo.language import answers_where, command_in
from amparo.services import canonical_service, named_in, service_types
from amparo.text import has_words
from bot.components import ConfiguredComponent
from bot.components.disclosure import DISCLOSURE
from bot.components.language import LANGUAGE_GUESS, PAYLOAD_PREFIX

UNREADABLE = "unreadable"
UNSUPPORTED_LANGUAGE = "unsupported_language"
REQUEST_HUMAN, ASK_HELP = "request_human", "ask_help"
# Readings a message that says where the person is gets from a model that has never
# seen the place: "no", "later", or not sure at all.
NOT_A_PLACE, INFORM_PLACE = frozenset({"deny", "later", "nlu_fallback"}), "inform_place"
# Readings whose reply is the emergency numbers: the intent model's stand on its own,
# in any language (a miss costs the most there).
NUMBERS_FIRST = {"emergency", "disclose_self_harm"}
NLU_FALLBACK, FIND_SERVICE, SERVICE_TYPE = (
    "nlu_fallback",
    "find_service",
    "service_type",
)
# A model that leaned to one of these, even unsure, is not read as searching.
NOT_A_SEARCH = {*DISCLOSURE_INTENTS.values(), REQUEST_HUMAN}
# Less sure of a reading than this, the model did not lean to it: the
# FallbackClassifier's threshold in config.yml ("y comida?" read as nothing above 0.17).
LEANING = 0.4
# The intent model's disclosure readings that need the lexicon or the classifier.
UNSUPPORTED_DISCLOSURES = set(DISCLOSURE_INTENTS.values()) - NUMBERS_FIRST
# Readings a request for a person in so many words overrides ("eres un robot? quiero
# una persona" read as bot_challenge); never an answer such as "no" or "later". A
# language named beside it ("i want a person, my english is not good") is the
# detector's to act on, whatever the intent.
MAY_ASK_FOR_PERSON = {
    "bot_challenge",
    "out_of_scope",
    NLU_FALLBACK,
    ASK_HELP,
    "greet",
    FIND_SERVICE,
    "choose_language",
}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class InputGuard(ConfiguredComponent):
    """Runs last: a classifier always picks some intent, even for "😀😀" or German.

    Empty, emoji-only or punctuation-only messages become ``unreadable``; a message
    that is a command word ("BORRAR", "EXIT") becomes that command. Whether a message
    is a disclosure, and of what, is read from the cue lexicon first, then from the
    disclosure classifier (``DisclosureClassifier``): a disclosure wins whatever else
    the message asks for ("me estan siguiendo y necesito un albergue" is
    ``emergency``). The intent model's own reading of danger or self-harm stands
    (numbers first); its reading of another disclosure that neither the lexicon nor
    the classifier sees is ``nlu_fallback`` (whose reply offers a person).
    A request for a person in so many words ("eres una maquina? quiero una persona")
    is ``request_human`` whatever else the model read, unless the words name a
    service or the model read an answer, a command or a disclosure; ``request_human``
    without a word for a person ("necesito ayuda porfa") becomes ``ask_help``; a
    refusal that says where the person is and has no refusal word ("estoy en
    narnia") becomes ``inform_place``; a search whose service the model did not tag
    gets the one its words name ("y comida?"); a message that is confidently in a
    language we do not answer in, with no cue, becomes ``unsupported_language``.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        # Read with the model, not on the first person's message (half a second):
        # the cue lexicon, the language profiles' command words, the service words.
        lexicon()
        command_in("")
        service_types()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(PAYLOAD_PREFIX):
                continue
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            foreign = (message.get(LANGUAGE_GUESS) or {}).get("foreign")
            # The classifier learnt our languages only: on French it guesses.
            category = disclosure_in(text) or (
                None if foreign else message.get(DISCLOSURE)
            )
            command = command_in(text)
            # The intent model alone reads a disclosure: not understood (the reply
            # offers a person), never an answer to "where are you?"; a search only
            # when a service is named ("y comida?" read as trafficking).
            unsure = intent in UNSUPPORTED_DISCLOSURES and not category
            if unsure:
                intent = _unsure(message)
            if not has_words(text):
                _override_intent(message, UNREADABLE)
            elif command:
                # "BORRAR", "SAIR": the words the privacy notice teaches always work.
                _override_intent(message, command)
            elif (
                category
                and intent != DISCLOSURE_INTENTS[category]
                and intent not in NUMBERS_FIRST
            ):
                # The cue (or the classifier) decides the category, which decides
                # the team: a model reading "mi pareja me pega" as a child at risk
                # sent it to the wrong one. A reading of danger or self-harm stands
                # (numbers first).
                _override_intent(message, DISCLOSURE_INTENTS[category])
            elif (
                intent in MAY_ASK_FOR_PERSON
                and not unsure
                and not foreign
                and requests_person(text)
                and not _service_named(message)
            ):
                # "is this a robot? i need someone real": the words ask for a person.
                # Not when they name a service ("... del albergue": a search), nor
                # when the model leaned to a disclosure (nlu_fallback keeps it for
                # the case its reply offers).
                _override_intent(message, REQUEST_HUMAN, keep_entities=True)
            elif intent == REQUEST_HUMAN and not asks_for_person(text):
                # Opening a case needs a request for a person, not any plea for help.
                _override_intent(message, ASK_HELP)
            elif intent in NOT_A_PLACE and not unsure and answers_where(text):
                # A town the model has never seen can look to it like "no": answering
                # "where are you?" must not end the search.
                _override_intent(message, INFORM_PLACE, keep_entities=True)
            elif (
                intent == FIND_SERVICE
                and not _service_tagged(message)
                and (service := _service_asked(message, unsure))
            ):
                # "y comida?" read as a search without a service tagged (or a span
                # that is none): the words of our vocabulary name it.
                kept = [
                    e
                    for e in message.get(ENTITIES, [])
                    if e.get(ENTITY_ATTRIBUTE_TYPE) != SERVICE_TYPE
                ]
                message.set(ENTITIES, [*kept, _entity(SERVICE_TYPE, service)], True)
            elif intent == NLU_FALLBACK and (
                service := _service_asked(message, unsure)
            ):
                # "y comida?": the model unsure, a service named in the words of
                # our vocabulary is a request for it.
                _override_intent(message, FIND_SERVICE)
                message.set(ENTITIES, [_entity(SERVICE_TYPE, service)], True)
            elif not category and intent not in NUMBERS_FIRST and foreign:
                # Our model cannot read French or German: what it makes of them is
                # noise, even a disclosure; the reply says which languages we speak.
                # A reading of danger stands: the numbers help in any language.
                _override_intent(message, UNSUPPORTED_LANGUAGE)
            if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == INFORM_PLACE:
                _drop_unknown_services(message)
        return messages


def _unsure(message: Message) -> str:
    """``nlu_fallback`` on top of the intent model's ranking, as Rasa's
    FallbackClassifier does: the disclosure it leaned to stays visible (a case
    opened next can tell)."""
    ranking = [
        r
        for r in message.get(INTENT_RANKING_KEY) or []
        if r[INTENT_NAME_KEY] != NLU_FALLBACK
    ]
    unsure = {INTENT_NAME_KEY: NLU_FALLBACK, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, unsure, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [unsure, *ranking], add_to_output=True)
    return NLU_FALLBACK


def _service_asked(message: Message, unsure: bool) -> str | None:
    """The service type a message names, unless the model leaned to a disclosure or
    to asking for a person (at least ``LEANING`` sure of it: then it is not read as a
    search) and that reading was not already found unsupported."""
    ranking = message.get(INTENT_RANKING_KEY) or []
    leaning = next((r for r in ranking if r[INTENT_NAME_KEY] != NLU_FALLBACK), {})
    if (
        leaning.get(INTENT_NAME_KEY) in NOT_A_SEARCH
        and leaning.get(PREDICTED_CONFIDENCE_KEY, 1.0) >= LEANING
        and not unsure
    ):
        return None
    found = named_in(message.get(TEXT) or "", service_types())
    return found.id if found else None


def _service_named(message: Message) -> bool:
    """Whether the model tagged a service or the words name one."""
    found = named_in(message.get(TEXT) or "", service_types())
    return found is not None or _service_tagged(message)


def _service_tagged(message: Message) -> bool:
    """Whether the model tagged a service type our vocabulary knows (a span such as
    "go" tagged as one is no service)."""
    return any(
        e.get(ENTITY_ATTRIBUTE_TYPE) == SERVICE_TYPE
        and canonical_service(e.get(ENTITY_ATTRIBUTE_VALUE))
        for e in message.get(ENTITIES, [])
    )


def _drop_unknown_services(message: Message) -> None:
    """An answer to "where?" keeps the service it answers for: a span tagged as a
    service that names none we know ("lucas" in "san lucas toliman") is no service,
    and would make the search ask for one again."""
    entities = message.get(ENTITIES) or []
    kept = [
        e
        for e in entities
        if e.get(ENTITY_ATTRIBUTE_TYPE) != SERVICE_TYPE
        or canonical_service(e.get(ENTITY_ATTRIBUTE_VALUE))
    ]
    if len(kept) < len(entities):
        message.set(ENTITIES, kept, add_to_output=True)


def _entity(name: str, value: str) -> dict[str, Any]:
    return {
        ENTITY_ATTRIBUTE_TYPE: name,
        ENTITY_ATTRIBUTE_VALUE: value,
        "extractor": "InputGuard",
    }


def _override_intent(message: Message, name: str, keep_entities: bool = False) -> None:
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
    if not keep_entities:
        message.set(ENTITIES, [], add_to_output=True)
