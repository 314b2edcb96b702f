"""What the action server, the channels and the caseworker desk share about a handoff:
the case store, the team's hours, and the emergency lines for a person's country."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from opening_hours import OpeningHours, State
from sqlalchemy.exc import SQLAlchemyError

from amparo.cases import CaseStore
from amparo.cues import DISCLOSURE_CATEGORIES
from amparo.geo import countries, country_name
from amparo.language import LanguageProfile
from amparo.responses import responses
from amparo.search import help_lines, when
from amparo.settings import Settings, settings

# The NLU intents that lead to a handoff, and the case category each one opens.
CATEGORY_OF_INTENT = {
    **DISCLOSURE_CATEGORIES,
    "request_human": "request_human",
}


@cache
def case_store() -> CaseStore:
    """The store, built on first use (tests point AMPARO_CASES_DB elsewhere)."""
    return CaseStore.from_url(settings().cases_db)


def lines_for(country: str | None, language: str) -> str:
    """The emergency and help lines of the person's country, or the region's main
    numbers when the country is not known."""
    known = countries().get(country or "")
    if known is None:
        return responses().text("utter_help_lines_any_country", language)
    return help_lines(known, language)


def emergency_reply(country: str | None, language: str) -> tuple[str, dict[str, str]]:
    """The emergency response and its values: the country's lines when known, else
    every country's."""
    if countries().get(country or "") is None:
        return "utter_emergency", {}
    return "utter_emergency_country", {
        "country": country_name(country, language),
        "help_lines": lines_for(country, language),
    }


def emergency_text(country: str | None, language: str) -> str:
    name, values = emergency_reply(country, language)
    return responses().text(name, language, **values)


def open_case_for(
    *,
    conversation_id: str,
    channel: str,
    language: str,
    country: str | None,
    place: str | None,
    events: Iterable[Mapping[str, Any]],
    now: dt.datetime,
) -> tuple[str, dict[str, str]]:
    """Opens the person's case (or finds the open one, or reopens a recent one) from
    their conversation's events (Rasa's, as dicts), and returns the response that
    tells them what happens now, with its values. Shared by the action server and
    the Rasa server's own fallback when the action server is away (bot/fallbacks.py).
    """
    category, said = what_led_here(events)
    back_at = team_back_at(now, _profile(language))
    try:
        opened = case_store().open_case(
            conversation_id=conversation_id,
            channel=channel,
            language=language,
            category=category,
            country=country if country in countries() else None,
            area=place,
            context=[said] if said else [],
            reopen_within=dt.timedelta(hours=settings().reopen_hours),
            told_waiting=back_at is not None,
            now=now,
        )
    except SQLAlchemyError:
        logging.getLogger(__name__).exception("the case could not be opened")
        return "utter_handoff_unavailable", {}
    logging.getLogger(__name__).info(
        "case %s %s", opened.case.id, "reopened" if opened.reopened else "open"
    )
    if back_at is None:
        return "utter_handoff_opened", {}
    return "utter_handoff_opened_closed", {
        "back_at": back_at,
        "help_lines": lines_for(country, language),
    }


def what_led_here(events: Iterable[Mapping[str, Any]]) -> tuple[str, str | None]:
    """The category of the latest disclosure, danger or request for a person, and
    what the person wrote then (not a button's payload), for the caseworker.

    "Talk to a person" tapped under a message the bot did not understand (which may
    be a disclosure only the intent model saw: bot/components/guard.py) brings that
    message, and the disclosure the model leaned to.
    """
    said = [event for event in events if event.get("event") == "user"]
    for index in range(len(said) - 1, -1, -1):
        intent, _ = _reading(said[index])
        if intent not in CATEGORY_OF_INTENT:
            continue
        text = (said[index].get("text") or "").strip()
        if not text.startswith("/"):
            return CATEGORY_OF_INTENT[intent], text
        if intent == "request_human" and index:
            before, before_ranking = _reading(said[index - 1])
            if before == "nlu_fallback":
                leaning = next((r for r in before_ranking if r != before), None)
                category = CATEGORY_OF_INTENT.get(leaning, "request_human")
                return category, (said[index - 1].get("text") or "").strip() or None
        return CATEGORY_OF_INTENT[intent], None
    return "request_human", None


def _reading(event: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """A user event's intent and the names of its ranking."""
    parse = event.get("parse_data") or {}
    ranking = [r.get("name") for r in parse.get("intent_ranking") or []]
    return (parse.get("intent") or {}).get("name"), ranking


@cache
def _profile(language: str) -> LanguageProfile:
    return LanguageProfile.load(language)


def team_back_at(
    now: dt.datetime, profile: LanguageProfile, config: Settings | None = None
) -> str | None:
    """None while caseworkers are on duty; otherwise when they are back, as the person
    reads it ("lunes 08:00"), in the team's time zone."""
    config = config or settings()
    zone = ZoneInfo(config.team_timezone)
    local = now.astimezone(zone).replace(tzinfo=None)
    hours = _hours(config.team_hours)
    if hours.state(local)[0] == State.OPEN:
        return None
    back = hours.next_change(local)
    if back is None:
        return "—"
    return when(back, local, profile)


@cache
def _hours(spec: str) -> OpeningHours:
    return OpeningHours(spec)
