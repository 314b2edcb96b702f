"""Searches through the running stack, in each language, against the sample catalog.

The expected places are worked out here by brute force (haversine over every entry of
services_catalog.yml), never copied from what the bot answered.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from amparo.geo import haversine_km
from amparo.settings import settings

TAPACHULA = (14.91, -92.26)  # as the search keeps it: rounded to ~1 km
CUCUTA = (7.89, -72.51)
SAN_JOSE_CR = (9.93, -84.08)


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    return yaml.safe_load(settings().catalog.read_text(encoding="utf-8"))["services"]


def nearest(catalog, kind: str, at: tuple[float, float]) -> list[str]:
    entries = [e for e in catalog if kind in e["types"]]
    entries.sort(key=lambda e: float(haversine_km(*at, e["latitude"], e["longitude"])))
    return [e["name"] for e in entries]


def shown(replies) -> list[str]:
    """The names of the places in the result messages (first line, before " — ")."""
    return [
        r.text.split(" — ")[0].split(" (")[0]
        for r in replies
        if "🗺️" in r.text and " — " in r.text
    ]


def new_sender() -> str:
    return uuid.uuid4().hex


def test_es_typed_place_more_then_another_type_and_place(chat, catalog):
    sender = new_sender()
    replies = chat.say(sender, "necesito un albergue en tapachula")
    assert replies[0].text.startswith("Buscas un albergue cerca de Tapachula.")
    assert shown(replies) == nearest(catalog, "shelter", TAPACHULA)[:3]
    assert {r.language for r in replies} == {"es"}
    assert replies[-1].buttons[0]["payload"] == "/ask_more"

    more = chat.say(sender, "mas")
    assert shown(more) == nearest(catalog, "shelter", TAPACHULA)[3:6]

    food = chat.say(sender, "y comida?")
    assert food[0].text.startswith("Buscas comida cerca de Tapachula.")
    assert shown(food) == nearest(catalog, "food", TAPACHULA)[:3]


def test_en_pin_then_the_service_type(chat, catalog):
    sender = new_sender()
    chat.say(sender, "hi")
    pin = "/share_location" + json.dumps({"location": "7.894,-72.508"})
    asked = chat.say(sender, pin)
    assert asked[0].text.startswith("What kind of help are you looking for?")
    replies = chat.say(sender, "legal help")
    assert replies[0].text.startswith("You are looking for legal help near Cúcuta.")
    assert shown(replies) == nearest(catalog, "legal", CUCUTA)[:3]
    assert {r.language for r in replies} == {"en"}


def test_pt_ambiguous_place_asks_which_country(chat, catalog):
    sender = new_sender()
    chat.say(sender, "oi")
    chat.say(sender, "preciso de atendimento de saude")
    question = chat.say(sender, "San José")
    assert question[0].text.startswith("Existe mais de um lugar com esse nome.")
    assert question[0].language == "pt"
    titles = [b["title"] for b in question[0].buttons]
    assert "San José · Costa Rica" in titles
    choice = question[0].buttons[titles.index("San José · Costa Rica")]["payload"]
    replies = chat.say(sender, choice)
    assert replies[0].text.startswith(
        "Você procura atendimento de saúde perto de San José"
    )
    assert shown(replies) == nearest(catalog, "health", SAN_JOSE_CR)[:3]


def test_es_unknown_place_is_said_and_asked_again(chat, catalog):
    sender = new_sender()
    chat.say(sender, "busco un abogado")
    unknown = chat.say(sender, "estoy en narnia")
    assert unknown[0].text.startswith("No encontré «")
    assert "narnia» en mi mapa." in unknown[0].text
    replies = chat.say(sender, "cucuta")
    assert shown(replies) == nearest(catalog, "legal", CUCUTA)[:3]


def test_en_nothing_near_shows_the_nearest_and_help_lines(chat, catalog):
    sender = new_sender()
    chat.say(sender, "hello")
    chat.say(sender, '/find_service{"service_type": "alternative_care"}')
    replies = chat.say(sender, "tumbes")
    assert replies[0].text.startswith(
        "I found no care for children on their own within 50 km of Tumbes."
    )
    lines = [r.text for r in replies if r.text.startswith("If you are in danger")]
    assert lines == [
        "If you are in danger, help numbers in Peru: 105 (police) · 106 "
        "(ambulance) · 100 (violence helpline)."
    ]
    tumbes = (-3.55592, -80.44258)
    assert shown(replies) == nearest(catalog, "alternative_care", tumbes)[:3]
