"""The domain and the training data agree, in every language we answer in."""

import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.core.domain import Domain
from rasa.shared.nlu.training_data.loading import load_data

from amparo.language import PROFILES_DIR
from amparo.services import service_types

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("es", "en", "pt")
# Intents the pipeline sets itself (bot.components.guard) or Rasa does (fallback).
PIPELINE_INTENTS = {"nlu_fallback", "unreadable", "unsupported_language"}
# Intents only the channels send, as payloads: a location pin is never typed.
CHANNEL_INTENTS = {"share_location", "send_media"}
PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "bot" / "domain")


@pytest.fixture(scope="module")
def examples_by_language() -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for lang in LANGUAGES:
        data = load_data(str(ROOT / "data" / "nlu" / lang))
        per_intent: dict[str, int] = defaultdict(int)
        for message in data.intent_examples:
            per_intent[message.get("intent")] += 1
        counts[lang] = per_intent
    return counts


def config_languages() -> list[str]:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    component = next(
        c for c in config["pipeline"] if c["name"].endswith("LanguageIdentification")
    )
    return component["languages"]


def test_the_config_languages_are_the_ones_we_answer_in():
    assert config_languages() == list(LANGUAGES)


def test_every_response_has_exactly_one_variation_per_language(domain):
    for name, variations in domain.responses.items():
        for channel in {v.get("channel") for v in variations}:
            languages = [
                condition["value"]
                for variation in variations
                if variation.get("channel") == channel
                for condition in variation.get("condition") or []
                if condition["name"] == "language"
            ]
            assert sorted(languages) == sorted(LANGUAGES), (name, channel)
        assert all(v.get("condition") for v in variations), f"{name}: unconditioned"


def test_every_response_says_something(domain):
    for name, variations in domain.responses.items():
        for variation in variations:
            assert (variation.get("text") or "").strip(), name


def test_every_intent_has_training_examples_in_every_language(
    domain, examples_by_language
):
    typed = set(domain.intents) - PIPELINE_INTENTS - CHANNEL_INTENTS
    for intent in typed - set(DEFAULT_INTENTS):
        for lang in LANGUAGES:
            assert examples_by_language[lang][intent] >= 20, (intent, lang)


def test_training_data_has_no_intent_the_domain_lacks(domain, examples_by_language):
    for lang in LANGUAGES:
        assert set(examples_by_language[lang]) <= set(domain.intents), lang


def test_no_example_is_labelled_with_two_intents():
    seen: dict[str, str] = {}
    for lang in LANGUAGES:
        for message in load_data(str(ROOT / "data" / "nlu" / lang)).intent_examples:
            text = message.get("text").strip().lower()
            assert seen.setdefault(text, message.get("intent")) == message.get(
                "intent"
            ), text


def test_entity_values_are_known(domain):
    services = set(service_types())
    for lang in LANGUAGES:
        for message in load_data(str(ROOT / "data" / "nlu" / lang)).entity_examples:
            for entity in message.get("entities"):
                if entity["entity"] == "service_type":
                    assert entity["value"] in services, (lang, message.get("text"))
                elif entity["entity"] == "language":
                    assert entity["value"] in LANGUAGES, (lang, message.get("text"))


def test_buttons_send_known_intents_and_entities(domain):
    for name, variations in domain.responses.items():
        for variation in variations:
            for button in variation.get("buttons") or []:
                # Double braces survive Rasa's slot interpolation as literal braces.
                payload = button["payload"].replace("{{", "{").replace("}}", "}")
                match = PAYLOAD.match(payload)
                assert match and match.group(1) in domain.intents, (name, payload)
                if match.group(2):
                    entities = yaml.safe_load(match.group(2))
                    assert set(entities) <= set(domain.entities), (name, payload)
                    kind = entities.get("service_type")
                    assert kind is None or kind in service_types(), (name, payload)


def test_every_service_type_has_a_label_in_every_language():
    for service in service_types().values():
        assert set(service.labels) == set(LANGUAGES), service.id


def test_every_language_has_a_profile():
    for lang in LANGUAGES:
        assert (PROFILES_DIR / f"{lang}.yml").is_file()


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "deploy/endpoints.yml"])
def test_the_domain_goes_to_the_action_server_only_for_the_form_check(
    domain, endpoints
):
    """Rasa sends its whole domain with every action call unless told otherwise; the
    form's validation reads the form's slots from it, and gets it."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import read_endpoint_config

    endpoint = read_endpoint_config(str(ROOT / endpoints), "action_endpoint")
    tracker = DialogueStateTracker.from_events("someone", [])
    custom = [a for a in domain.user_actions if not a.startswith("utter_")]
    sent = {
        name: "domain"
        in RemoteAction(name, endpoint)._action_call_format(tracker, domain)
        for name in custom
    }
    assert sent == {name: name.startswith("validate_") for name in custom}
    assert sent["validate_service_search_form"]
