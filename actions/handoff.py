"""The handoff to a caseworker: the emergency numbers for the person's country, and the
case opened with their consent (amparo.cases; the channels route their next messages
to it, the caseworker desk answers them)."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.service_search import DEFAULT_LANGUAGE, clock
from amparo.handoff import emergency_reply, open_case_for


def language_of(tracker: Tracker) -> str:
    return tracker.get_slot("language") or DEFAULT_LANGUAGE


class ActionEmergencyNumbers(Action):
    """Numbers first: the country's lines when the conversation knows the country,
    otherwise every country's."""

    def name(self) -> str:
        return "action_emergency_numbers"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        name, values = emergency_reply(
            tracker.get_slot("country"), language_of(tracker)
        )
        dispatcher.utter_message(response=name, **values)
        return []


class ActionOpenCase(Action):
    """Opens the case (or finds the one already open, or reopens a recent one) and
    tells the person what happens now (amparo.handoff.open_case_for)."""

    def name(self) -> str:
        return "action_open_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        response, values = await asyncio.to_thread(
            open_case_for,
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "rest",
            language=language_of(tracker),
            country=tracker.get_slot("country"),
            place=tracker.get_slot("place"),
            events=tracker.events,
            now=clock(),
        )
        dispatcher.utter_message(response=response, **values)
        return []
