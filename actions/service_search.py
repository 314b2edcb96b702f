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
from amparo.geo import Gazetteer, Place, countries, parse_coordinates
from amparo.language import LanguageProfile
from amparo.search import Query, ServiceSearch, describe, help_lines
from amparo.services import canonical_service, clean_place, population_in, service_types
from amparo.settings import settings
from amparo.text import has_phrase, word_line

DEFAULT_LANGUAGE = "es"
PAGE = 3
PIN_DECIMALS = 3  # about 100 m: enough to find the nearest places, not a street address
UTC = ZoneInfo("UTC")
SEARCH_ACTION = "action_search_services"


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
        preferred=search.countries(),
        fillers={f for p in profiles.values() for f in p.place_fillers},
    )
    return Finder(search, gazetteer, profiles)


def locate(place: str, country: str | None) -> tuple[float, float, Place | None] | None:
    """Where a validated ``place`` slot is: a pin ("lat,lon") or a gazetteer key."""
    pin = parse_coordinates(place)
    if pin:
        return (*pin, None)
    found = finder().gazetteer.resolve(place, country=country).place
    return (found.latitude, found.longitude, found) if found else None


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
        pin = parse_coordinates(slot_value)
        if pin:
            nearest = finder().gazetteer.nearest(*pin)
            return {
                "place": ",".join(f"{v:.{PIN_DECIMALS}f}" for v in pin),
                "country": nearest.country if nearest else None,
                "place_choices": None,
                "place_unknown": None,
            }
        typed = clean_place(slot_value)
        resolution = finder().gazetteer.resolve(
            typed,
            country=tracker.get_slot("country"),
            choices=tracker.get_slot("place_choices") or (),
        )
        if resolution.place:
            return {
                "place": resolution.place.key,
                "country": resolution.place.country,
                "place_choices": None,
                "place_unknown": None,
            }
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
            buttons = [
                {
                    "title": f"{key.rpartition(', ')[0]} · "
                    f"{countries()[key.rpartition(', ')[2]].names[language]}",
                    "payload": "/inform_place" + json.dumps({"place": key}),
                }
                for key in choices
            ]
            name = choices[0].rpartition(", ")[0]
            dispatcher.utter_message(
                response="utter_ask_place_which", place=name, buttons=buttons
            )
        elif unknown:
            dispatcher.utter_message(response="utter_place_unknown", place=unknown)
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
        place = tracker.get_slot("place")
        country = tracker.get_slot("country")
        where = locate(place, country) if place else None
        if service is None or where is None:
            dispatcher.utter_message(response="utter_ask_service_type")
            return []
        latitude, longitude, town = where
        town = town or tools.gazetteer.nearest(latitude, longitude)
        more = tracker.latest_message.get("intent", {}).get("name") == "ask_more"
        request = _request_text(tracker)
        population = population_in(request) or tracker.get_slot("population")
        if more:  # the same search, further out
            offset = int(tracker.get_slot("search_offset") or 0) + PAGE
            open_now = bool(tracker.get_slot("open_now"))
        else:
            offset = 0
            line = word_line(request)
            open_now = any(has_phrase(line, phrase) for phrase in profile.open_now)
        now = clock()
        query = Query(
            latitude,
            longitude,
            service.id,
            population=population,
            open_at=now if open_now else None,
        )
        hits = tools.search.nearest(query, offset=offset, limit=PAGE)
        label = service.label(lang)
        country_entry = countries().get(country or "")
        lines = help_lines(country_entry, lang) if country_entry else ""
        events: list[EventType] = [
            SlotSet("search_offset", offset),
            SlotSet("population", population),
            SlotSet("open_now", open_now),
        ]
        if not hits:
            response = "utter_search_no_more" if offset else "utter_search_none"
            dispatcher.utter_message(
                response=response, service_label=label, help_lines=lines or "—"
            )
            return events
        if offset == 0:
            far = hits[0].distance_km > settings().nearby_km
            intro = "far" if far else "found_open" if open_now else "found"
            dispatcher.utter_message(
                response=f"utter_search_{intro}",
                service_label=label,
                place=town.name if town else "—",
                nearby=f"{settings().nearby_km:g}",
                help_lines=lines or "—",
            )
        for hit in hits:
            kind, params = describe(hit, profile, now)
            dispatcher.utter_message(response=f"utter_search_result_{kind}", **params)
        if len(hits) == PAGE:
            dispatcher.utter_message(response="utter_search_more")
        return events


def _request_text(tracker: Tracker) -> str:
    """What the person wrote since the last search: "soy mujer", "abierto ahora"..."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "action" and event.get("name") == SEARCH_ACTION:
            break
        text = str(event.get("text") or "")
        if event.get("event") == "user" and not text.startswith("/"):
            texts.append(text)
    return " ".join(reversed(texts))
