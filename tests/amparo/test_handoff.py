"""The team's hours, the emergency lines by country, and the domain texts the desk and
the channels send outside a Rasa turn."""

import datetime as dt
import re
import string

import pytest

from amparo.geo import countries
from amparo.handoff import emergency_text, lines_for, team_back_at, what_led_here
from amparo.language import LanguageProfile
from amparo.responses import DOMAIN, Responses, responses
from amparo.settings import Settings

UTC = dt.timezone.utc
ES = LanguageProfile.load("es")
OFFICE = Settings(team_hours="Mo-Fr 08:00-18:00", team_timezone="America/Bogota")


@pytest.mark.parametrize(
    ("utc", "back"),
    [
        (dt.datetime(2026, 11, 23, 15, 0, tzinfo=UTC), None),  # Monday 10:00 in Bogotá
        (dt.datetime(2026, 11, 24, 2, 0, tzinfo=UTC), "mañana 08:00"),  # Mon 21:00
        (dt.datetime(2026, 11, 23, 11, 0, tzinfo=UTC), "08:00"),  # Monday 06:00
        (dt.datetime(2026, 11, 28, 15, 0, tzinfo=UTC), "lunes 08:00"),  # Saturday
    ],
)
def test_when_the_team_is_back(utc, back):
    assert team_back_at(utc, ES, OFFICE) == back


def test_a_team_always_on_duty_is_never_away():
    always = Settings(team_hours="24/7")
    assert team_back_at(dt.datetime(2026, 11, 28, 3, 0, tzinfo=UTC), ES, always) is None


def test_the_lines_of_a_known_country_or_of_the_region():
    assert lines_for("BR", "pt").startswith("190")
    assert "188" in lines_for("BR", "pt")
    assert lines_for(None, "es") == responses().text(
        "utter_help_lines_any_country", "es"
    )
    assert lines_for("FR", "en") == lines_for(None, "en")  # not a country we cover


def test_the_emergency_text_names_the_country_when_known():
    text = emergency_text("PE", "es")
    assert "Perú" in text and "105" in text
    assert emergency_text(None, "es") == responses().text("utter_emergency", "es")


def test_every_country_has_lines_in_every_language():
    for code in countries():
        for language in ("es", "en", "pt"):
            assert re.search(r"\d", lines_for(code, language)), (code, language)


def test_every_domain_text_fills_with_what_its_senders_pass():
    """The placeholders of texts sent outside Rasa are the ones the code fills."""
    filled = {
        "utter_handoff_waiting": {"help_lines"},
        "utter_emergency_country": {"country", "help_lines"},
        "utter_handoff_opened_closed": {"back_at", "help_lines"},
    }
    texts = Responses(DOMAIN)
    for name in [
        "utter_caseworker_joined",
        "utter_caseworker_transferred",
        "utter_handoff_closed",
        "utter_help_lines_any_country",
        "utter_emergency",
        *filled,
    ]:
        for language in ("es", "en", "pt"):
            raw = texts._texts[name, language]
            fields = {f for _, f, _, _ in string.Formatter().parse(raw) if f}
            assert fields == filled.get(name, set()), (name, language)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AMPARO_TEAM_HOURS", "whenever"),
        ("AMPARO_TEAM_TIMEZONE", "Mars/Olympus"),
        ("AMPARO_HANDOFF_WAIT_MINUTES", "soon"),
        ("AMPARO_HANDOFF_WAIT_MINUTES", "0"),
        ("AMPARO_REOPEN_HOURS", "-1"),
    ],
)
def test_bad_handoff_settings_are_refused_clearly(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def _user(text, intent, *ranking):
    names = [intent, *ranking]
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "intent": {"name": intent},
            "intent_ranking": [{"name": n} for n in names],
        },
    }


@pytest.mark.parametrize(
    ("events", "led"),
    [
        # a disclosure, then "yes" to the offer
        (
            [_user("mi pareja me pega", "disclose_violence"), _user("si", "affirm")],
            ("violence", "mi pareja me pega"),
        ),
        # asking for a person in words
        (
            [_user("quiero hablar con alguien", "request_human")],
            ("request_human", "quiero hablar con alguien"),
        ),
        # the button under "not understood", after a disclosure only the intent
        # model saw: the caseworker gets that message and what the model leaned to
        (
            [
                _user(
                    "el del cuarto dice q le pague de otra forma",
                    "nlu_fallback",
                    "disclose_violence",
                    "find_service",
                ),
                _user("/request_human", "request_human"),
            ],
            ("violence", "el del cuarto dice q le pague de otra forma"),
        ),
        (
            [
                _user("asdf qwer", "nlu_fallback", "greet"),
                _user("/request_human", "request_human"),
            ],
            ("request_human", "asdf qwer"),
        ),
        # a button after an understood message brings no words
        (
            [_user("hola", "greet"), _user("/request_human", "request_human")],
            ("request_human", None),
        ),
        ([_user("hola", "greet")], ("request_human", None)),
    ],
)
def test_what_led_to_the_case(events, led):
    assert what_led_here([{"event": "bot"}, *events]) == led
