from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from amparo.language import LanguageGuess
from bot.components.language import LANGUAGE_GUESS
from bot.policies.language import answered_languages, language_events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "bot" / "domain")


def uttered(
    scores=None,
    *,
    intent="greet",
    entities=(),
    explicit=None,
    words=1,
    hint=None,
    text="text",
):
    parse = {"intent": {"name": intent, "confidence": 1.0}, "entities": list(entities)}
    if scores is not None:
        guess = LanguageGuess(scores, explicit=explicit, word_count=words, hint=hint)
        parse[LANGUAGE_GUESS] = guess.as_dict()
    return UserUttered(text, parse["intent"], parse["entities"], parse)


def tracker(domain, *events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "someone", [ActionExecuted("action_listen"), *events], domain.slots
    )


PT = {"es": 0.1, "en": 0.05, "pt": 0.85}
EN = {"es": 0.01, "en": 0.98, "pt": 0.01}
TIE = {"es": 0.45, "en": 0.1, "pt": 0.45}


def test_languages_come_from_the_domain_replies(domain):
    assert answered_languages(domain) == {"es", "en", "pt"}


def test_first_message_sets_the_language(domain):
    events = language_events(tracker(domain, uttered(PT)), domain, default="es")
    assert events == [SlotSet("language", "pt")]


def test_ambiguous_message_keeps_the_language(domain):
    t = tracker(domain, SlotSet("language", "pt"), uttered(TIE))
    assert language_events(t, domain, default="es") == []


def test_clear_switch(domain):
    t = tracker(domain, SlotSet("language", "pt"), uttered(EN))
    assert language_events(t, domain, default="es") == [SlotSet("language", "en")]


def test_applying_the_events_twice_changes_nothing(domain):
    t = tracker(domain, SlotSet("language", "pt"), uttered(EN))
    t.update_with_events(language_events(t, domain, default="es"), domain)
    assert language_events(t, domain, default="es") == []


def test_menu_choice_locks_the_language(domain):
    choice = uttered(
        None, intent="choose_language", entities=[{"entity": "language", "value": "en"}]
    )
    t = tracker(domain, SlotSet("language", "es"), choice)
    assert language_events(t, domain, default="es") == [
        SlotSet("language", "en"),
        SlotSet("language_locked", True),
    ]


def test_locked_language_stays_until_asked_again(domain):
    t = tracker(
        domain, SlotSet("language", "en"), SlotSet("language_locked", True), uttered(PT)
    )
    assert language_events(t, domain, default="es") == []
    t = tracker(
        domain,
        SlotSet("language", "en"),
        SlotSet("language_locked", True),
        uttered(EN, explicit="pt"),
    )
    assert language_events(t, domain, default="es") == [SlotSet("language", "pt")]


def test_forged_language_is_ignored(domain):
    forged = uttered(
        None, intent="choose_language", entities=[{"entity": "language", "value": "xx"}]
    )
    t = tracker(domain, SlotSet("language", "es"), forged)
    assert language_events(t, domain, default="es") == []
    t = tracker(domain, forged)
    assert language_events(t, domain, default="es") == [SlotSet("language", "es")]


def test_a_payload_first_message_still_gets_a_language(domain):
    t = tracker(domain, uttered(None, intent="find_service"))
    assert language_events(t, domain, default="es") == [SlotSet("language", "es")]


def test_a_payload_first_message_follows_the_channel_hint(domain):
    """Telegram's /start from a phone set to Portuguese: greeted in Portuguese."""
    uniform = {"es": 1 / 3, "en": 1 / 3, "pt": 1 / 3}
    start = uttered(uniform, words=0, hint="pt", text="/greet")
    assert language_events(tracker(domain, start), domain, default="es") == [
        SlotSet("language", "pt")
    ]
    # Later, a button keeps the conversation's language whatever the hint.
    t = tracker(domain, SlotSet("language", "es"), start)
    assert language_events(t, domain, default="es") == []
    # And a menu choice still picks and locks.
    choice = uttered(
        uniform,
        words=0,
        hint="pt",
        intent="choose_language",
        entities=[{"entity": "language", "value": "en"}],
    )
    t = tracker(domain, SlotSet("language", "es"), choice)
    assert language_events(t, domain, default="es") == [
        SlotSet("language", "en"),
        SlotSet("language_locked", True),
    ]


def test_hint_decides_an_ambiguous_first_message(domain):
    t = tracker(domain, uttered({"es": 0.5, "en": 0.0, "pt": 0.5}, hint="pt"))
    assert language_events(t, domain, default="es") == [SlotSet("language", "pt")]


def test_typed_language_names_count_only_through_the_explicit_check(domain):
    # "no hablo ingles": the model may tag "ingles", but the identifier saw a negation.
    typed = uttered(
        {"es": 0.97, "en": 0.02, "pt": 0.01},
        intent="choose_language",
        entities=[{"entity": "language", "value": "en"}],
    )
    t = tracker(domain, SlotSet("language", "es"), typed)
    assert language_events(t, domain, default="es") == []


ES = {"es": 0.97, "en": 0.01, "pt": 0.02}


def test_a_place_name_is_not_evidence_of_language(domain):
    san_jose = uttered(
        ES,
        intent="inform_place",
        text="San José",
        words=2,
        entities=[{"entity": "place", "value": "San José", "start": 0, "end": 8}],
    )
    t = tracker(domain, SlotSet("language", "pt"), san_jose)
    assert language_events(t, domain, default="es") == []


def test_a_short_answer_to_the_place_question_keeps_the_language(domain):
    t = tracker(
        domain,
        SlotSet("language", "en"),
        SlotSet("requested_slot", "place"),
        uttered(ES, intent="inform_place", text="tumbes", words=1),
    )
    assert language_events(t, domain, default="es") == []


def test_a_sentence_or_an_explicit_request_still_switches_during_the_question(domain):
    sentence = uttered(ES, intent="ask_help", text="necesito ayuda por favor", words=4)
    t = tracker(domain, SlotSet("language", "en"), SlotSet("requested_slot", "place"))
    t.update(sentence)
    assert language_events(t, domain, default="es") == [SlotSet("language", "es")]
    request = uttered(PT, explicit="pt", text="em portugues", words=2)
    t = tracker(domain, SlotSet("language", "en"), SlotSet("requested_slot", "place"))
    t.update(request)
    assert SlotSet("language", "pt") in language_events(t, domain, default="es")


def test_words_beside_the_place_still_count(domain):
    message = uttered(
        ES,
        intent="inform_place",
        text="estoy en San José",
        words=4,
        entities=[{"entity": "place", "value": "San José", "start": 9, "end": 17}],
    )
    t = tracker(domain, SlotSet("language", "pt"), message)
    assert language_events(t, domain, default="es") == [SlotSet("language", "es")]
