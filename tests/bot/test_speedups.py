"""Rasa's check of the action server's responses, made fast: still a check."""

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

import bot.components  # noqa: F401  (what Rasa imports: installs the fixes)
from bot.speedups import _validate_action_result


@pytest.fixture
def action() -> RemoteAction:
    return RemoteAction("action_search_services", EndpointConfig("http://x"))


def test_rasa_runs_with_the_fast_check():
    assert RemoteAction._validate_action_result is _validate_action_result


@pytest.mark.parametrize(
    "response",
    [
        {"events": [], "responses": []},
        {"events": [{"event": "slot", "name": "place", "value": "Tapachula"}]},
        {"responses": [{"response": "utter_ok", "text": None}]},
    ],
)
def test_a_valid_response_passes(action, response):
    assert action._validate_action_result(response) is True


@pytest.mark.parametrize(
    "response",
    [
        {"events": "not a list"},
        {"events": [{"name": "place"}]},  # an event needs its type
        {"events": [{"event": "no_such_event"}]},
    ],
)
def test_an_invalid_response_is_refused_as_before(action, response):
    with pytest.raises(ValidationError, match="Failed to validate Action server"):
        action._validate_action_result(response)
    # The same verdict as Rasa's own jsonschema.validate.
    from jsonschema import validate

    with pytest.raises(ValidationError):
        validate(response, RemoteAction.action_response_format_spec())
