"""With the action server away, the Rasa server still gives the numbers, still opens
the case the person consented to, and otherwise says "write again in a minute"."""

import asyncio
import socket

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

import bot.components  # noqa: F401  (installs the fallbacks, as loading the model does)
from amparo.responses import DOMAIN as DOMAIN_DIR
from amparo.responses import responses
from bot import fallbacks

DOMAIN = Domain.load(str(DOMAIN_DIR))


def nobody_listening() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/webhook"


def run(action: str, *events, language="es"):
    tracker = DialogueStateTracker.from_events(
        "person-0001",
        [ActionExecuted("action_listen"), SlotSet("language", language), *events],
        DOMAIN.slots,
    )
    remote = RemoteAction(action, EndpointConfig(nobody_listening()))
    output = CollectingOutputChannel()
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    said = asyncio.run(remote.run(output, nlg, tracker, DOMAIN))
    tracker.update_with_events(said, DOMAIN)
    return said, tracker


def said_text(events) -> list[str]:
    return [e.text for e in events]


@pytest.fixture(autouse=True)
def _always_on_duty(monkeypatch):
    from amparo.settings import settings

    monkeypatch.setenv("AMPARO_TEAM_HOURS", "24/7")
    settings.cache_clear()


def test_consent_still_opens_the_case(store):
    disclosed = UserUttered(
        "mi esposo me pega", intent={"name": "disclose_violence", "confidence": 1.0}
    )
    said, _ = run("action_open_case", disclosed, UserUttered("si"))
    assert said_text(said) == [responses().text("utter_handoff_opened", "es")]
    case = store.open_case_of("person-0001")
    assert case.category == "violence"
    assert [m.text for m in store.messages(case.id)] == ["mi esposo me pega"]


def test_the_numbers_still_come(store):
    said, _ = run("action_emergency_numbers", language="en")
    assert said_text(said) == [responses().text("utter_emergency", "en")]


def test_anything_else_asks_to_write_again_once_a_turn(store):
    said, tracker = run(
        "action_search_services", UserUttered("necesito comida"), language="pt"
    )
    assert said_text(said) == [responses().text("utter_try_again", "pt")]
    remote = RemoteAction("action_ask_place", EndpointConfig(nobody_listening()))
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    again = asyncio.run(remote.run(CollectingOutputChannel(), nlg, tracker, DOMAIN))
    assert again == []
    assert fallbacks.RemoteAction.run is fallbacks.run


def test_delete_my_data_is_still_carried_out(store):
    from amparo.contacts import contacts

    store.open_case(
        conversation_id="person-0001", channel="rest", language="es", category="danger"
    )
    contacts().mark_noticed("person-0001")
    said, tracker = run("action_erase_data", UserUttered("si"))
    assert said_text(said[:1]) == [responses().text("utter_data_erased", "es")]
    assert tracker.get_slot("erased") is True  # the tracker store keeps nothing
    assert store.open_case_of("person-0001") is None
    assert not contacts().noticed("person-0001")
