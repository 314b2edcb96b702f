"""The handoff actions: numbers for the person's country, and the case opened with
what led to it, in the store the channels route by."""

import asyncio
import datetime as dt

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import OperationalError

import actions.handoff as module
import amparo.handoff
from actions.handoff import ActionEmergencyNumbers, ActionOpenCase
from amparo.handoff import lines_for

UTC = dt.timezone.utc
MONDAY_MORNING = dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in Panama
SATURDAY = dt.datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def tracker(*said, language="es", country=None, place=None, channel="webchat"):
    """``said``: (text, intent) the person wrote, oldest first."""
    events = [{"event": "action", "name": "action_listen"}]
    for text, intent in said:
        events.append(
            {
                "event": "user",
                "text": text,
                "parse_data": {"intent": {"name": intent}},
                "input_channel": channel,
            }
        )
    return Tracker(
        sender_id="person-0001",
        slots={"language": language, "country": country, "place": place},
        latest_message={"intent": {"name": said[-1][1]}, "text": said[-1][0]},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return events, dispatcher.messages


@pytest.fixture(autouse=True)
def office_hours(monkeypatch):
    monkeypatch.setattr(module, "clock", lambda: MONDAY_MORNING)


def test_numbers_of_the_known_country():
    _, [message] = run(
        ActionEmergencyNumbers(), tracker(("me siguen", "emergency"), country="GT")
    )
    assert message["response"] == "utter_emergency_country"
    assert message["country"] == "Guatemala"
    assert message["help_lines"] == lines_for("GT", "es")


def test_every_number_when_the_country_is_unknown():
    _, [message] = run(ActionEmergencyNumbers(), tracker(("me siguen", "emergency")))
    assert message["response"] == "utter_emergency"


def test_consent_opens_a_case_with_what_led_to_it(store):
    conversation = tracker(
        ("necesito un albergue", "find_service"),
        ("el coyote me pide sexo para cruzar", "disclose_violence"),
        ("/affirm", "affirm"),
        country="MX",
        place="Tapachula",
        language="es",
    )
    events, [message] = run(ActionOpenCase(), conversation)
    assert events == []
    assert message["response"] == "utter_handoff_opened"
    case = store.open_case_of("person-0001")
    assert (case.category, case.urgency, case.team) == ("violence", "high", "gbv")
    assert (case.country, case.area, case.channel, case.language) == (
        "MX",
        "Tapachula",
        "webchat",
        "es",
    )
    assert [m.text for m in store.messages(case.id)] == [
        "el coyote me pide sexo para cruzar"
    ]


def test_asking_for_a_person_opens_a_plain_case(store):
    run(ActionOpenCase(), tracker(("quiero hablar con alguien", "request_human")))
    case = store.open_case_of("person-0001")
    assert (case.category, case.urgency) == ("request_human", "normal")


def test_a_button_payload_is_not_kept_as_context(store):
    run(ActionOpenCase(), tracker(("/emergency", "emergency"), ("si", "affirm")))
    case = store.open_case_of("person-0001")
    assert case.category == "danger" and store.messages(case.id) == []


def test_outside_working_hours_the_person_is_told_when_and_given_numbers(
    store, monkeypatch
):
    monkeypatch.setattr(module, "clock", lambda: SATURDAY)
    _, [message] = run(
        ActionOpenCase(),
        tracker(
            ("i want to die", "disclose_self_harm"),
            ("yes", "affirm"),
            language="en",
            country="US",
        ),
    )
    assert message["response"] == "utter_handoff_opened_closed"
    assert message["back_at"] == "Monday 08:00"
    assert message["help_lines"] == lines_for("US", "en")
    case = store.open_case_of("person-0001")
    assert case.waiting_notice_at is not None  # no second "still waiting" later


def test_when_the_store_is_down_the_person_is_told_not_left_waiting(monkeypatch):
    class Down:
        def open_case(self, **_):
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(amparo.handoff, "case_store", lambda: Down())
    _, [message] = run(ActionOpenCase(), tracker(("persona", "request_human")))
    assert message["response"] == "utter_handoff_unavailable"
