"""What the action server, the channels and the caseworker desk share about a handoff:
the case store, the team's hours, and the emergency lines for a person's country."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

from opening_hours import OpeningHours, State

from amparo.cases import CaseStore
from amparo.geo import countries, country_name
from amparo.language import LanguageProfile
from amparo.responses import responses
from amparo.search import help_lines, when
from amparo.settings import Settings, settings

# The NLU intents that lead to a handoff, and the case category each one opens.
CATEGORY_OF_INTENT = {
    "emergency": "danger",
    "disclose_self_harm": "self_harm",
    "disclose_child_at_risk": "child_at_risk",
    "disclose_trafficking": "trafficking",
    "disclose_violence": "violence",
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
