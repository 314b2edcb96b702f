import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.service_search import ActionConfirmSearch, ValidateServiceSearchForm

FORM = "service_search_form"
DOMAIN = {"forms": {FORM: {"required_slots": ["service_type", "place"]}}}


def tracker_with(slots: dict, language: str = "es", extracted: dict | None = None):
    """A tracker as Rasa sends it; ``extracted`` are the slots set by this message."""
    extracted = slots if extracted is None else extracted
    return Tracker(
        sender_id="someone",
        slots={
            "service_type": None,
            "place": None,
            "language": language,
            "requested_slot": None,
            **slots,
        },
        latest_message={"intent": {"name": "find_service"}, "entities": []},
        events=[{"event": "slot", "name": k, "value": v} for k, v in extracted.items()],
        paused=False,
        followup_action=None,
        active_loop={"name": FORM},
        latest_action_name="action_listen",
    )


def run_form(slots: dict, language: str = "es", extracted: dict | None = None):
    dispatcher = CollectingDispatcher()
    tracker = tracker_with(slots, language, extracted)
    events = asyncio.run(ValidateServiceSearchForm().run(dispatcher, tracker, DOMAIN))
    assert dispatcher.messages == []
    return events


def test_known_service_and_place_are_kept():
    events = run_form({"service_type": "shelter", "place": "  Tapachula. "})
    assert SlotSet("service_type", "shelter") in events
    assert SlotSet("place", "Tapachula") in events


def test_unknown_service_is_cleared_so_the_form_asks_again():
    assert SlotSet("service_type", None) in run_form({"service_type": "bicicleta"})


def test_two_services_keep_the_first_known_one():
    assert SlotSet("service_type", "food") in run_form(
        {"service_type": ["cama", "food"]}
    )


@pytest.mark.parametrize(
    ("value", "service"),
    [
        ("busco medico", "health"),
        ("Cargar el celular", "connectivity"),
        ("a place to sleep tonight", "shelter"),
        ("apoio psicológico", "mhpss"),
    ],
)
def test_a_span_the_model_got_wrong_still_finds_the_service(value, service):
    assert SlotSet("service_type", service) in run_form({"service_type": value})


@pytest.mark.parametrize("place", ["", "  ", "?!", "😀"])
def test_unusable_place_is_cleared(place):
    assert SlotSet("place", None) in run_form({"place": place})


def test_long_place_is_cut():
    assert SlotSet("place", "a" * 80) in run_form({"place": "a" * 500})


@pytest.mark.parametrize(
    ("language", "label"),
    [("es", "un albergue"), ("en", "a shelter"), ("pt", "um abrigo")],
)
def test_confirmation_names_the_service_in_the_reply_language(language, label):
    dispatcher = CollectingDispatcher()
    tracker = tracker_with({"service_type": "shelter", "place": "Tapachula"}, language)
    assert ActionConfirmSearch().run(dispatcher, tracker, DOMAIN) == []
    assert dispatcher.messages == [
        {
            **dispatcher.messages[0],
            "response": "utter_service_request_noted",
            "service_label": label,
            "place": "Tapachula",
        }
    ]
