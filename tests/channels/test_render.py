"""How replies look on SMS, WhatsApp and Telegram."""

import pytest
import yaml

from amparo.responses import responses
from amparo.settings import ROOT
from channels.render import (
    TWILIO_LIMIT,
    Menu,
    choice,
    number_reply,
    segments,
    sms_text,
    split,
)

SHELTER = '/find_service{"service_type": "shelter"}'
LEGAL = '/find_service{"service_type": "legal_aid"}'


def test_sms_text_keeps_accents_and_drops_what_costs_double():
    assert (
        sms_text("¡Hola! 👋 «Albergue» — ñandú… 📍") == '¡Hola! "Albergue" - ñandú...'
    )
    assert sms_text("Olá, ação\n\n  já ") == "Olá, ação\n\njá"


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # the extension table counts twice
        ("€" * 81, 2),
        ("ação" + "a" * 66, 1),  # ã and ç are not GSM-7: UCS-2, 70 a segment
        ("ação" + "a" * 67, 2),
        ("ñandú " * 10, 1),  # ñ is GSM-7, ú is not
    ],
)
def test_segments(text, count):
    assert segments(text) == count


def test_split_cuts_between_sentences_and_never_loses_text():
    text = ("Una frase corta. " * 200).strip()
    pieces = split(text, TWILIO_LIMIT)
    assert all(len(p) <= TWILIO_LIMIT for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text
    assert split("x" * 3500, 1600) == ["x" * 1600, "x" * 1600, "x" * 300]
    assert split("corto", 1600) == ["corto"]


@pytest.mark.parametrize(
    ("text", "number"),
    [("2", 2), (" 2. ", 2), ("3)", 3), ("#4", None), ("12", 12), ("2 personas", None)],
)
def test_number_replies(text, number):
    assert number_reply(text) == number


def test_choices_are_numbered_across_the_turn_with_a_hint_in_the_language():
    menu = Menu()
    first = menu.numbered(
        "¿Qué tipo de ayuda buscas? Escríbelo o elige una opción.",
        [{"title": "Albergue", "payload": SHELTER}],
    )
    second = menu.numbered(
        "I'm writing to you in English. To change language, choose one.",
        [{"title": "Legal", "payload": LEGAL}],
    )
    assert first.splitlines()[2:] == [
        "1 - Albergue",
        "",
        "Responde con el número de tu opción.",
    ]
    assert "2 - Legal" in second and "Reply with the number of your choice." in second
    assert "/find_service" not in first + second
    assert menu.payloads == [SHELTER, LEGAL]
    offered = menu.offered()
    assert choice("2", offered) == LEGAL
    assert choice("3", offered) == "3"  # not a choice: read as text
    assert choice("hola", offered) == "hola"
    assert choice("2", offered, typed=False) == "2"  # Telegram: only buttons pick


def test_a_location_request_is_left_to_the_text_on_numbered_channels():
    menu = Menu()
    text = menu.numbered(
        "¿Dónde estás?", [{"title": "📍 Enviar", "payload": "/share_location"}]
    )
    assert text == "¿Dónde estás?" and menu.payloads == []


def test_telegram_keeps_short_payloads_and_numbers_long_ones():
    menu = Menu()
    place = '/inform_place{"place": "' + "San Juan de los Lagos, MX" * 3 + '"}'
    keyed = menu.keyed(
        [
            {"title": "Albergue", "payload": SHELTER},
            {"title": "San Juan", "payload": place},
            {"title": "📍", "payload": "/share_location"},
        ]
    )
    numbered = f"#{menu.tag}:2"
    assert keyed == [
        ("Albergue", SHELTER),
        ("San Juan", numbered),
        ("📍", "/share_location"),
    ]
    assert choice(numbered, menu.offered(), typed=False) == place
    # A button of an older menu never picks from a newer one.
    assert choice(numbered, Menu().offered()) == numbered


def test_every_domain_text_is_known_in_its_language():
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        domain = yaml.safe_load(path.read_text())
        for name, variations in (domain.get("responses") or {}).items():
            for variation in variations:
                language = variation["condition"][0]["value"]
                text = responses().text(name, language, **_fillers(variation["text"]))
                assert responses().language_of(text) == language, name


def test_every_reply_with_choices_stays_short_on_sms():
    """What SMS shows (a `channel: sms` variation when there is one), with its numbered
    choices: most es/pt texts are UCS-2 (accents), 67 characters a segment."""
    shown = {}
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        domain = yaml.safe_load(path.read_text())
        for name, variations in (domain.get("responses") or {}).items():
            for variation in sorted(variations, key=lambda v: bool(v.get("channel"))):
                if variation.get("channel") not in (None, "sms"):
                    continue
                language = variation["condition"][0]["value"]
                text = " ".join(variation["text"].split()).format(
                    **_fillers(variation["text"])
                )
                buttons = variation.get("buttons") or []
                shown[name, language] = sms_text(Menu().numbered(text, buttons))
    assert max(segments(text) for text in shown.values()) <= 7
    for language in ("es", "en", "pt"):
        assert segments(shown["utter_greet", language]) <= 5, language


def _fillers(text: str) -> dict[str, str]:
    import re

    return {name: "Tapachula" for name in re.findall(r"\{(\w+)\}", text)}
