"""The service search: the form's validation, its place question, and the results.

The catalog, its index and the gazetteer are built once, on first use, behind
:func:`finder` (tests replace it). ``scripts/lib.sh`` checks the catalog before the
action server starts, so an invalid catalog stops the bot with the list of problems.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from amparo.catalog import load_catalog
from amparo.geo import (
    Gazetteer,
    countries,
    country_name,
    parse_coordinates,
    pin_text,
)
from amparo.language import LanguageProfile
from amparo.search import Query, ServiceSearch, describe, help_lines
from amparo.services import canonical_service, clean_place, population_in, service_types
from amparo.settings import settings
from amparo.text import has_phrase, word_line

DEFAULT_LANGUAGE = "es"
PAGE = 3
UTC = ZoneInfo("UTC")
SEARCH_ACTION = "action_search_services"
REQUEST_INTENTS = {"find_service", "inform_place", "share_location"}
MAX_ECHO_WORDS = 4  # an unknown place is said back only when it looks like a name


def clock() -> dt.datetime:
    """Now, time-zone aware (tests replace it)."""
    return dt.datetime.now(UTC)


@dataclass(frozen=True)
class Finder:
    search: ServiceSearch
    gazetteer: Gazetteer
    profiles: dict[str, LanguageProfile]

    def profile(self, tracker: Tracker) -> LanguageProfile:
        language = tracker.get_slot("language") or DEFAULT_LANGUAGE
        return self.profiles.get(language) or self.profiles[DEFAULT_LANGUAGE]


@cache
def finder() -> Finder:
    search = ServiceSearch(load_catalog(settings().catalog))
    profiles = {code: LanguageProfile.load(code) for code in ("es", "en", "pt")}
    gazetteer = Gazetteer.from_geonames(
        preferred=search.covered_countries(),
        fillers={f for p in profiles.values() for f in p.place_fillers},
        generic={g for p in profiles.values() for g in p.generic_places},
    )
    return Finder(search, gazetteer, profiles)


def found(place: str, latitude: float, longitude: float, country: str | None) -> dict:
    """The slots of a place the search can use: a name to show and where it is."""
    return {
        "place": place,
        "location": pin_text(latitude, longitude),
        "country": country,
        "place_choices": None,
        "place_unknown": None,
    }


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
        """A pin, or a typed place resolved offline. Ambiguous and unknown places leave
        ``place`` empty, so the form asks again; ``action_ask_place`` says why."""
        if slot_value == tracker.get_slot("place") and tracker.get_slot("location"):
            return {"place": slot_value}  # found before: the form starting again
        tools = finder()
        pin = parse_coordinates(slot_value)
        if pin:
            town = tools.gazetteer.nearest(*pin)
            return found(town.name if town else "📍", *pin, town and town.country)
        typed = clean_place(slot_value)
        known = {
            "country": tracker.get_slot("country"),
            "choices": tracker.get_slot("place_choices") or (),
        }
        resolution = tools.gazetteer.resolve(typed, **known)
        # The model may tag part of a name ("toliman" in "san lucas toliman"): when the
        # answer to the question is short, the whole of it is tried first.
        whole = clean_place(tracker.latest_message.get("text"))
        if (
            tracker.get_slot("requested_slot") == "place"
            and whole
            and whole != typed
            and not whole.startswith("/")
            and len(whole.split()) <= MAX_ECHO_WORDS
        ):
            resolution = tools.gazetteer.resolve(whole, **known) or resolution
        if resolution.place:
            place = resolution.place
            return found(place.name, place.latitude, place.longitude, place.country)
        if resolution.choices:
            return {
                "place": None,
                "place_choices": [p.key for p in resolution.choices],
                "place_unknown": None,
            }
        return {"place": None, "place_choices": None, "place_unknown": typed or "…"}


class ActionAskPlace(Action):
    """The form's place question: which of several towns, not found, or where."""

    def name(self) -> str:
        return "action_ask_place"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        choices = tracker.get_slot("place_choices") or []
        unknown = tracker.get_slot("place_unknown")
        if choices:
            language = finder().profile(tracker).code
            buttons = []
            for key in choices:
                name, _, code = key.rpartition(", ")
                buttons.append(
                    {
                        "title": f"{name} · {country_name(code, language)}",
                        "payload": "/inform_place" + json.dumps({"place": key}),
                    }
                )
            dispatcher.utter_message(response="utter_ask_place_which", buttons=buttons)
        elif unknown and len(unknown.split()) <= MAX_ECHO_WORDS:
            dispatcher.utter_message(response="utter_place_unknown", place=unknown)
        elif unknown:
            dispatcher.utter_message(response="utter_place_not_found")
        else:
            dispatcher.utter_message(response="utter_where_are_you")
        return [SlotSet("place_unknown", None)]


class ActionSearchServices(Action):
    """The nearest service points of the requested type, three at a time."""

    def name(self) -> str:
        return SEARCH_ACTION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        tools = finder()
        profile = tools.profile(tracker)
        lang = profile.code
        service = service_types().get(tracker.get_slot("service_type") or "")
        where = parse_coordinates(tracker.get_slot("location"))
        if service is None:
            dispatcher.utter_message(response="utter_ask_service_type")
            return []
        if where is None:
            dispatcher.utter_message(response="utter_where_are_you")
            return []
        more = tracker.latest_message.get("intent", {}).get("name") == "ask_more"
        offset = int(tracker.get_slot("search_offset") or 0) + PAGE if more else 0
        # Who the person is and "open now" hold for this request only: nothing about
        # them is kept for later (DOMAIN.md, "store the minimum").
        request = word_line(_request_text(tracker))
        population = population_in(request)
        open_now = any(has_phrase(request, phrase) for phrase in profile.open_now)
        now = clock()
        query = Query(
            *where, service.id, population=population, open_at=now if open_now else None
        )
        hits = tools.search.nearest(query, offset=offset, limit=PAGE)
        label = service.label(lang)
        events: list[EventType] = [
            SlotSet("search_offset", offset),
            SlotSet("place_choices", None),
        ]
        far = bool(hits) and offset == 0 and hits[0].distance_km > settings().nearby_km
        if not hits:
            response = "utter_search_no_more" if offset else "utter_search_none"
            dispatcher.utter_message(response=response, service_label=label)
        elif offset == 0:
            intro = "far" if far else "found_open" if open_now else "found"
            dispatcher.utter_message(
                response=f"utter_search_{intro}",
                service_label=label,
                place=tracker.get_slot("place") or "📍",
                nearby=f"{settings().nearby_km:g}",
            )
        for hit in hits:
            kind, params = describe(hit, profile, now)
            dispatcher.utter_message(response=f"utter_search_result_{kind}", **params)
        country = countries().get(tracker.get_slot("country") or "")
        if (far or not (hits or offset)) and country:
            dispatcher.utter_message(
                response="utter_help_lines",
                country=country.names[lang],
                help_lines=help_lines(country, lang),
            )
        if len(hits) == PAGE:
            dispatcher.utter_message(response="utter_search_more")
        return events


def _request_text(tracker: Tracker) -> str:
    """What the person wrote for this request: back to the message that asked for a
    service or gave the place ("albergue para mi y mis hijos", "abierto ahora")."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = str(event.get("text") or "")
        if not text.startswith("/"):
            texts.append(text)
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") in REQUEST_INTENTS:
            break
    return " ".join(reversed(texts))
