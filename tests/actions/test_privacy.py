"""\"Delete my data\"."""

from sqlalchemy.exc import OperationalError

import actions.privacy as module
from actions.privacy import ActionEraseData
from amparo.cases import Case
from tests.actions.test_handoff import run, tracker


def test_erasing_removes_the_cases_and_marks_the_tracker(store, monkeypatch):
    store.open_case(
        conversation_id="person-0001", channel="rest", language="es", category="danger"
    )
    events, [message] = run(ActionEraseData(), tracker(("si", "affirm")))
    assert message["response"] == "utter_data_erased"
    assert events == [
        {"event": "slot", "timestamp": None, "name": "erased", "value": True}
    ]
    with store.session() as session:
        assert session.query(Case).count() == 0


def test_when_erasing_fails_the_person_is_told_to_try_again(monkeypatch):
    def down(_):
        raise OperationalError("DELETE", {}, Exception("database is locked"))

    monkeypatch.setattr(module, "erase_person", down)
    events, [message] = run(ActionEraseData(), tracker(("si", "affirm")))
    assert (events, message["response"]) == ([], "utter_erase_failed")
