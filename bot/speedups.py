"""What Rasa 3.6.21 (pinned) does slowly, done fast with the same result.

Rasa validates every response of the action server with ``jsonschema.validate``, which
first checks the *schema* against JSON Schema's meta-schema, on every call: under load
that was 30 % of the Rasa server's event-loop time (bench/load.py profiled with
py-spy). Here the schema is checked once and the response still validated every time,
raising the same error with the same message.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@cache
def _action_response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    validator = validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    error = best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your "
        "response from the Action endpoint is valid. For more information about the "
        f"format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
