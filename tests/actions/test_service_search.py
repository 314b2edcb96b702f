"""The search actions against the sample catalog and the real gazetteer.

Expected results are worked out here by brute force (haversine over every entry of the
catalog file), never copied from what the index returns.
"""

import asyncio
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.service_search as module
from actions.service_search import (
    ActionAskPlace,
    ActionSearchServices,
    Finder,
    ValidateServiceSearchForm,
)
from amparo.catalog import load_catalog
from amparo.geo import haversine_km
from amparo.language import LanguageProfile
from amparo.search import ServiceSearch
from amparo.settings import settings

FORM = "service_search_form"
# What Rasa sends (endpoints.yml: enable_selective_domain): the domain to the form's
# validation, nothing to the other actions.
DOMAIN = {"forms": {FORM: {"required_slots": ["service_type", "place"]}}}
NO_DOMAIN: dict = {}
UTC = ZoneInfo("UTC")
# Monday 23 November 2026, 20:00 in Tapachula (UTC-6).
MONDAY_EVENING = dt.datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TAPACHULA = (14.905, -92.259)  # as the search keeps it: rounded
TAPACHULA_SLOTS = {"place": "Tapachula", "location": "14.905,-92.259", "country": "MX"}


@pytest.fixture(scope="module")
def sample():
    return yaml.safe_load(settings().catalog.read_text(encoding="utf-8"))["services"]


@pytest.fixture(autouse=True)
def tools(gazetteer, monkeypatch):
    profiles = {code: LanguageProfile.load(code) for code in ("es", "en", "pt")}
    found = Finder(ServiceSearch(load_catalog(settings().catalog)), gazetteer, profiles)
    monkeypatch.setattr(module, "finder", lambda: found)
    monkeypatch.setattr(module, "clock", lambda: MONDAY_EVENING)
    return found


def nearest_ids(sample, kind, at=TAPACHULA, keep=lambda entry: True):
    """The reference answer: every entry of the type, sorted by haversine."""
    entries = [e for e in sample if kind in e["types"] and keep(e)]
    entries.sort(key=lambda e: float(haversine_km(*at, e["latitude"], e["longitude"])))
    return [e["id"] for e in entries]


def tracker_with(
    slots: dict,
    language: str = "es",
    extracted: dict | None = None,
    intent: str = "find_service",
    texts: tuple[str, ...] = (),
):
    """A tracker as Rasa sends it; ``extracted`` are the slots set by this message,
    ``texts`` what the person wrote since the last search."""
    extracted = slots if extracted is None else extracted
    events = [{"event": "user", "text": t} for t in texts]
    events += [{"event": "slot", "name": k, "value": v} for k, v in extracted.items()]
    return Tracker(
        sender_id="someone",
        slots={
            "service_type": None,
            "place": None,
            "country": None,
            "place_choices": None,
            "place_unknown": None,
            "location": None,
            "search_offset": None,
            "language": language,
            "requested_slot": None,
            **slots,
        },
        latest_message={"intent": {"name": intent}, "entities": [], "text": ""},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": FORM},
        latest_action_name="action_listen",
    )


def run_form(slots: dict, **kwargs):
    dispatcher = CollectingDispatcher()
    tracker = tracker_with(slots, **kwargs)
    events = asyncio.run(ValidateServiceSearchForm().run(dispatcher, tracker, DOMAIN))
    assert dispatcher.messages == []
    return {e["name"]: e["value"] for e in events}


def search(slots: dict, **kwargs):
    dispatcher = CollectingDispatcher()
    tracker = tracker_with(slots, **kwargs)
    events = ActionSearchServices().run(dispatcher, tracker, NO_DOMAIN)
    return dispatcher.messages, {e["name"]: e["value"] for e in events}


# --- the form's validation ------------------------------------------------------------


def test_known_service_is_kept_and_unknown_cleared():
    assert run_form({"service_type": "shelter"})["service_type"] == "shelter"
    assert run_form({"service_type": "bicicleta"})["service_type"] is None
    assert run_form({"service_type": ["cama", "food"]})["service_type"] == "food"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Tapachula", "Tapachula, MX"),
        ("  tapachula. ", "Tapachula, MX"),
        ("estoy en cucuta", "Cúcuta, CO"),
        ("Ciudad de Panamá", "Panama City, PA"),
        ("juarez", "Ciudad Juárez, MX"),
        ("Sampa", "São Paulo, BR"),
        ("tecun uman", "Ciudad Tecún Umán, GT"),
        ("pacaraima", "Pacaraima, BR"),
        ("san jose costa rica", "San José, CR"),
    ],
)
def test_typed_place_resolves_to_one_town(typed, key, gazetteer):
    slots = run_form({"place": typed})
    town = gazetteer.resolve(key).place
    assert slots["place"] == town.name
    assert slots["location"] == f"{town.latitude:.2f},{town.longitude:.2f}"
    assert slots["country"] == key[-2:]
    assert slots["place_choices"] is None and slots["place_unknown"] is None


def test_a_place_found_before_is_not_looked_up_again():
    # Rasa validates filled slots again when the form restarts ("¿y comida?").
    kept = {"place": "Guadalupe", "location": "25.677,-100.256", "country": "MX"}
    assert run_form(kept, extracted={"place": "Guadalupe"}) == {"place": "Guadalupe"}


def test_ambiguous_place_asks_which_country_and_the_answer_settles_it():
    first = run_form({"place": "San José"})
    assert first["place"] is None
    assert set(first["place_choices"]) == {"San Jose, US", "San José, CR"}
    answer = run_form(
        {"place": "costa rica", "place_choices": first["place_choices"]},
        extracted={"place": "costa rica"},
    )
    assert answer["place"] == "San José" and answer["country"] == "CR"
    assert answer["place_choices"] is None


def test_what_the_conversation_knows_settles_an_ambiguous_place():
    slots = run_form(
        {"place": "Santiago", "country": "DO"}, extracted={"place": "Santiago"}
    )
    assert (slots["place"], slots["country"]) == ("Santiago de los Caballeros", "DO")


@pytest.mark.parametrize("typed", ["xyzzy", "mi casa", "Tapachula, Chile"])
def test_unknown_place_is_never_guessed(typed):
    slots = run_form({"place": typed})
    assert slots["place"] is None
    assert slots["place_unknown"] == typed


@pytest.mark.parametrize("typed", ["", "  ", "?!", "😀"])
def test_unusable_place_is_cleared(typed):
    slots = run_form({"place": typed})
    assert slots["place"] is None and slots["place_unknown"]


def test_pin_is_used_directly_rounded_to_about_1_km():
    slots = run_form({"place": "14.906123,-92.263456"})
    assert slots["location"] == "14.91,-92.26"
    assert (slots["place"], slots["country"]) == ("Tapachula", "MX")


# --- the place question --------------------------------------------------------------


def ask(slots: dict, language: str = "es"):
    dispatcher = CollectingDispatcher()
    events = ActionAskPlace().run(dispatcher, tracker_with(slots, language), NO_DOMAIN)
    assert events == [SlotSet("place_unknown", None)]
    return dispatcher.messages


def test_question_offers_one_button_per_country_in_the_reply_language():
    offered = ["San Jose, US", "San José, CR", "Salta, AR"]
    [message] = ask({"place_choices": offered}, "pt")
    assert message["response"] == "utter_ask_place_which"
    # Argentina is not a catalog country: GeoNames' name for it, never a crash.
    assert [b["title"] for b in message["buttons"]] == [
        "San Jose · Estados Unidos",
        "San José · Costa Rica",
        "Salta · Argentina",
    ]
    payload = message["buttons"][1]["payload"]
    assert payload.startswith("/inform_place")
    assert json.loads(payload.removeprefix("/inform_place")) == {
        "place": "San José, CR"
    }


def test_unknown_place_is_said_back_then_the_question_is_plain():
    [message] = ask({"place_unknown": "xyzzy"})
    assert (message["response"], message["place"]) == ("utter_place_unknown", "xyzzy")
    # A long message is not echoed back: it may be something else entirely.
    [message] = ask({"place_unknown": "no se donde estoy me trajeron en un camion"})
    assert message["response"] == "utter_place_not_found" and "place" not in message
    [message] = ask({})
    assert message["response"] == "utter_where_are_you"


# --- the results ---------------------------------------------------------------------


def result_names(messages):
    return [
        m["name"] for m in messages if m["response"].startswith("utter_search_result")
    ]


def test_three_nearest_shelters_in_order_then_more(sample):
    by_id = {e["id"]: e for e in sample}
    expected = nearest_ids(sample, "shelter")
    messages, slots = search({"service_type": "shelter", **TAPACHULA_SLOTS})
    assert messages[0]["response"] == "utter_search_found"
    assert (messages[0]["service_label"], messages[0]["place"]) == (
        "un albergue",
        "Tapachula",
    )
    names = [n.split(" (")[0] for n in result_names(messages)]
    assert names == [by_id[i]["name"] for i in expected[:3]]
    assert messages[-1]["response"] == "utter_search_more"
    assert slots["search_offset"] == 0

    more, slots = search(
        {"service_type": "shelter", **TAPACHULA_SLOTS, "search_offset": 0},
        intent="ask_more",
    )
    names = [n.split(" (")[0] for n in result_names(more)]
    assert names == [by_id[i]["name"] for i in expected[3:6]]
    assert slots["search_offset"] == 3
    assert not more[0]["response"].startswith("utter_search_found")


def test_result_carries_what_a_person_needs_to_get_there(sample):
    messages, _ = search(
        {"service_type": "legal", "place": "Cúcuta", "location": "7.894,-72.508"},
        language="en",
    )
    first = next(m for m in messages if m["response"].startswith("utter_search_result"))
    entry = next(
        e
        for e in sample
        if e["id"] == nearest_ids(sample, "legal", at=(7.89391, -72.50782))[0]
    )
    assert first["name"].startswith(entry["name"])
    assert first["address"] == f"{entry['address']}, {entry['city']}"
    assert entry["phone"] in first["contact"]
    assert first["description"] == entry["description"]["en"]
    assert f"mlat={entry['latitude']:.5f}" in first["map"]
    assert first["distance"].endswith(" km") and "," not in first["distance"]


def test_open_and_closed_are_judged_in_the_service_time_zone():
    messages, _ = search({"service_type": "legal", **TAPACHULA_SLOTS})
    results = [m for m in messages if m["response"].startswith("utter_search_result")]
    # At 20:00 on a Monday an office that keeps daytime hours is closed, and says when
    # it opens again in words ("mañana 09:00").
    closed = [m for m in results if m["response"] == "utter_search_result_closed"]
    assert closed and all(m["opens"].startswith("mañana ") for m in closed)


def test_asking_for_open_now_keeps_only_open_places(sample, tools):
    messages, _ = search(
        {"service_type": "legal", **TAPACHULA_SLOTS},
        texts=("abogado abierto ahora",),
    )
    assert messages[0]["response"] in {"utter_search_found_open", "utter_search_far"}
    for message in messages:
        assert message["response"] != "utter_search_result_closed"


def test_saying_who_you_are_keeps_services_for_you_and_for_everyone(sample):
    expected = nearest_ids(
        sample,
        "shelter",
        keep=lambda e: bool({"everyone", "children"} & set(e["populations"])),
    )
    by_id = {e["id"]: e for e in sample}
    messages, _ = search(
        {"service_type": "shelter", **TAPACHULA_SLOTS},
        texts=("albergue para mi y mis hijos",),
    )
    names = [n.split(" (")[0] for n in result_names(messages)]
    assert names == [by_id[i]["name"] for i in expected[:3]]


def test_pin_results_name_the_nearest_town(sample):
    messages, _ = search(
        {"service_type": "food", "place": "Tapachula", "location": "14.906,-92.263"}
    )
    assert messages[0]["place"] == "Tapachula"
    assert result_names(messages)


def test_nothing_near_says_so_and_gives_the_country_help_lines(sample):
    messages, _ = search(
        {
            "service_type": "alternative_care",
            "place": "Tumbes",
            "location": "-3.556,-80.443",
            "country": "PE",
        },
        language="en",
    )
    first = messages[0]
    assert first["response"] == "utter_search_far" and first["nearby"] == "50"
    assert result_names(messages)  # the nearest anyway
    [lines] = [m for m in messages if m["response"] == "utter_help_lines"]
    assert lines["country"] == "Peru" and "105 (police)" in lines["help_lines"]


def test_nothing_at_all_says_so(gazetteer, monkeypatch, tools):
    only_shelters = [s for s in tools.search.services if s.types == {"shelter"}]
    monkeypatch.setattr(
        module,
        "finder",
        lambda: Finder(ServiceSearch(only_shelters), gazetteer, tools.profiles),
    )
    messages, _ = search(
        {
            "service_type": "food",
            "place": "Necoclí",
            "location": "8.426,-76.784",
            "country": "CO",
        },
        language="pt",
    )
    assert [m["response"] for m in messages] == [
        "utter_search_none",
        "utter_help_lines",
    ]
    assert "123 (emergências)" in messages[1]["help_lines"]


def test_more_after_the_last_result_says_there_are_no_more(sample):
    total = len(nearest_ids(sample, "shelter"))
    messages, _ = search(
        {"service_type": "shelter", **TAPACHULA_SLOTS, "search_offset": total},
        intent="ask_more",
    )
    assert [m["response"] for m in messages] == ["utter_search_no_more"]


def test_without_a_search_to_continue_it_asks_what_is_needed():
    messages, _ = search({}, intent="ask_more")
    assert [m["response"] for m in messages] == ["utter_ask_service_type"]
    messages, _ = search({"service_type": "food"}, intent="ask_more")
    assert [m["response"] for m in messages] == ["utter_where_are_you"]


def test_who_the_person_is_is_not_kept():
    _, slots = search(
        {"service_type": "shelter", **TAPACHULA_SLOTS}, texts=("soy mujer",)
    )
    assert set(slots) == {"search_offset", "place_choices"}


def test_a_name_the_model_tagged_in_part_is_read_whole():
    tracker = tracker_with({"place": "toliman", "requested_slot": "place"})
    tracker.latest_message["text"] = "san lucas toliman"
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateServiceSearchForm().run(dispatcher, tracker, DOMAIN))
    slots = {e["name"]: e["value"] for e in events}
    assert (slots["place"], slots["country"]) == ("San Lucas Tolimán", "GT")
