"""The service search: validates the form, then confirms what was understood.

The catalog search replaces the confirmation when the catalog lands.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from amparo.services import canonical_service, clean_place, service_types

DEFAULT_LANGUAGE = "es"


class ValidateServiceSearchForm(FormValidationAction):
    def name(self) -> str:
        return "validate_service_search_form"

    def validate_service_type(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        service = canonical_service(slot_value)
        return {"service_type": service.id if service else None}

    def validate_place(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {"place": clean_place(slot_value)}


class ActionConfirmSearch(Action):
    """Tells the person what the search understood, in the language of the reply.

    The label is looked up here, not stored in a slot during validation: a form whose
    validation sets any slot never rejects, and then a message such as "someone is
    following me" would be taken as an answer instead of reaching the danger rules.
    """

    def name(self) -> str:
        return "action_confirm_search"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        service = service_types().get(tracker.get_slot("service_type") or "")
        language = tracker.get_slot("language") or DEFAULT_LANGUAGE
        dispatcher.utter_message(
            response="utter_service_request_noted",
            service_label=service.label(language) if service else "",
            place=tracker.get_slot("place") or "",
        )
        return []
