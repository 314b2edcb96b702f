"""Faults on the running stack: the action server killed (kill -9) in the middle of a
handoff. The person's consent still opens the case, danger still gets the numbers,
and anything else gets a short "write again in a minute" instead of silence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from amparo.cases import CaseStore
from amparo.responses import responses
from scripts.stack import Stack
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY
from tests.e2e.conftest import MODEL, Chat, Desk, Inbox


@pytest.fixture(scope="module")
def fragile(tmp_path_factory) -> Iterator[tuple[Chat, Stack]]:
    """A stack of its own (the other tests' must keep its action server)."""
    if not MODEL.is_file():
        pytest.skip(f"no trained model at {MODEL}: run `make test`, which trains first")
    tmp = tmp_path_factory.mktemp("fragile")
    cases_db = f"sqlite:///{tmp / 'cases.db'}"
    store = CaseStore.from_url(cases_db)
    stack = Stack(
        tmp,
        MODEL,
        ("channels.webchat.WebChatInput",),
        {
            "AMPARO_CASES_DB": cases_db,
            "AMPARO_TEAM_HOURS": "24/7",
            # the keys this test process reads the case store with
            "AMPARO_ID_KEY": TEST_ID_KEY,
            "AMPARO_DATA_KEYS": TEST_DATA_KEY,
        },
    )
    try:
        stack.start()
    except RuntimeError as problem:
        pytest.fail(str(problem))
    try:
        yield (
            Chat(stack.url("rasa"), Desk(stack.url("desk"), store), Inbox(), None, tmp),
            stack,
        )
    finally:
        stack.stop()


def text(name: str, language: str) -> str:
    return responses().text(name, language)


def test_with_the_action_server_killed_consent_still_reaches_a_caseworker(fragile):
    chat, stack = fragile
    person, other = uuid.uuid4().hex, uuid.uuid4().hex
    asked = chat.say(person, "mi pareja me pega y tengo miedo")
    assert asked[1].text == text("utter_ask_handoff", "es")
    chat.say(other, "hola")

    actions = stack.processes["actions"]
    actions.kill()
    actions.wait(timeout=10)

    opened = chat.say(person, "si")
    assert [r.text for r in opened] == [text("utter_handoff_opened", "es")]
    case = chat.desk.store.open_case_of(person)
    assert case is not None and case.category == "violence"
    assert [m.text for m in chat.desk.store.messages(case.id)] == [
        "mi pareja me pega y tengo miedo"
    ]
    # what they write next goes to the case, as always
    assert chat.say_maybe(person, "estoy en el baño escondida") == []
    assert chat.desk.store.messages(case.id)[-1].text == "estoy en el baño escondida"

    # danger still gets the numbers; a search gets "write again", not silence
    danger = [r.text for r in chat.say(other, "me quieren matar ayuda")]
    assert danger[0] == text("utter_emergency", "es")
    search = [r.text for r in chat.say(other, "necesito un albergue en tapachula")]
    assert search == [text("utter_try_again", "es")]
