"""The handoff to a caseworker: the emergency numbers for the person's country, and the
case opened with their consent (amparo.cases; the channels route their next messages
to it, the caseworker desk answers them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from functools import cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.service_search import DEFAULT_LANGUAGE, clock
from amparo.geo import countries
from amparo.handoff import (
    CATEGORY_OF_INTENT,
    case_store,
    emergency_reply,
    lines_for,
    team_back_at,
)
from amparo.language import LanguageProfile
from amparo.settings import settings

logger = logging.getLogger(__name__)


@cache
def profile(language: str) -> LanguageProfile:
    return LanguageProfile.load(language)


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
    tells the person what happens now."""

    def name(self) -> str:
        return "action_open_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        language, country = language_of(tracker), tracker.get_slot("country")
        category, said = what_led_here(tracker)
        now = clock()
        back_at = team_back_at(now, profile(language))
        try:
            opened = await asyncio.to_thread(
                case_store().open_case,
                conversation_id=tracker.sender_id,
                channel=tracker.get_latest_input_channel() or "rest",
                language=language,
                category=category,
                country=country if country in countries() else None,
                area=tracker.get_slot("place"),
                context=[said] if said else [],
                reopen_within=dt.timedelta(hours=settings().reopen_hours),
                told_waiting=back_at is not None,
                now=now,
            )
        except SQLAlchemyError:
            logger.exception("the case could not be opened")
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return []
        logger.info(
            "case %s %s", opened.case.id, "reopened" if opened.reopened else "open"
        )
        if back_at is None:
            dispatcher.utter_message(response="utter_handoff_opened")
        else:
            dispatcher.utter_message(
                response="utter_handoff_opened_closed",
                back_at=back_at,
                help_lines=lines_for(country, language),
            )
        return []


def what_led_here(tracker: Tracker) -> tuple[str, str | None]:
    """The category of the latest disclosure, danger or request for a person, and
    what the person wrote then (not a button's payload), for the caseworker."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
        if intent in CATEGORY_OF_INTENT:
            text = (event.get("text") or "").strip()
            return CATEGORY_OF_INTENT[intent], None if text.startswith("/") else text
    return "request_human", None
