from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from amparo.language import (
    PROFILES_DIR,
    LanguageGuess,
    LanguageIdentifier,
    answers_where,
    decide,
)

FOREIGN = ["fr", "de", "it", "nl", "ru", "zh", "ar", "ja", "ko", "hi", "tr", "pl", "uk"]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier(["es", "en", "pt"], FOREIGN)


def best(identifier: LanguageIdentifier, text: str) -> str:
    return decide(
        replace(identifier.guess(text), explicit=None), current=None, default="es"
    )


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("hola", "es"),
        ("ayudenme porfa", "es"),
        ("donde ai comida", "es"),
        ("necesito ayuda pls", "es"),
        ("graciass", "es"),
        ("oi", "pt"),
        ("tá bom", "pt"),
        ("obg", "pt"),
        ("vc pode me ajudar", "pt"),
        ("tem medico perto", "pt"),
        ("help", "en"),
        ("pls help", "en"),
        ("where shelter", "en"),
        ("heeelp", "en"),
        ("need a lawyer", "en"),
    ],
)
def test_short_messages_as_people_type_them(identifier, text, language):
    assert best(identifier, text) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("english please", "en"),
        ("en español por favor", "es"),
        ("em português", "pt"),
        ("fala portugues?", "pt"),
        ("prefiero espanol", "es"),
        ("hablas ingles?", "en"),
        ("puedes hablarme en ingles por favor", "en"),
    ],
)
def test_explicit_requests_name_the_language(identifier, text, language):
    assert identifier.guess(text).explicit == language


@pytest.mark.parametrize(
    "text",
    [
        "no hablo ingles",
        "i dont speak spanish",
        "nao falo espanhol",
        "hola",
        "mi hijo habla ingles y espanol",  # two languages named: not a request
        "my cousin told me you could help with asylum papers in english",  # too long
    ],
)
def test_mentions_that_are_not_requests(identifier, text):
    assert identifier.guess(text).explicit is None


def test_guess_is_deterministic(identifier):
    first = identifier.guess("ayuda")
    assert all(identifier.guess("ayuda") == first for _ in range(20))


@pytest.mark.parametrize("text", ["ok", "no", "socorro", "ok ok", "no 😢", "k"])
def test_words_shared_by_our_languages_give_no_evidence(identifier, text):
    assert identifier.guess(text).word_count == 0


def test_no_words_gives_no_evidence(identifier):
    guess = identifier.guess("😀😀")
    assert guess.word_count == 0
    assert len(set(guess.scores.values())) == 1


@pytest.mark.parametrize(
    ("text", "foreign"),
    [
        ("bonjour je cherche un abri pour ce soir", "fr"),
        ("ich brauche hilfe bitte", "de"),
    ],
)
def test_languages_we_do_not_answer_in_are_recognised(identifier, text, foreign):
    assert identifier.guess(text).foreign == foreign


@pytest.mark.parametrize(
    "text",
    [
        "necesito un albergue para hoy",
        "where can i sleep tonight",
        "preciso de abrigo hoje",
        "no",
        "ok gracias",
    ],
)
def test_our_languages_are_not_called_foreign(identifier, text):
    assert identifier.guess(text).foreign is None


@pytest.mark.parametrize(
    ("metadata", "hint"),
    [
        ({"language_code": "pt-BR"}, "pt"),
        ({"language_code": "en"}, "en"),
        ({"language_code": "fr"}, None),
        ({"calling_code": "+55"}, "pt"),
        ({"calling_code": "57"}, "es"),
        ({"calling_code": "1868"}, "en"),
        ({"calling_code": "1809"}, "es"),
        ({"calling_code": "1"}, None),  # USA/Canada: many write Spanish
        ({}, None),
        (None, None),
    ],
)
def test_channel_hints(identifier, metadata, hint):
    assert identifier.hint(metadata) == hint


def guess_for(scores, **kwargs) -> LanguageGuess:
    return LanguageGuess(scores=scores, word_count=1, **kwargs)


AMBIGUOUS = {"es": 0.45, "pt": 0.45, "en": 0.10}
LEANS_PT = {"es": 0.30, "pt": 0.62, "en": 0.08}
CLEAR_EN = {"es": 0.001, "pt": 0.001, "en": 0.998}


def test_current_language_is_kept_on_ambiguous_words():
    assert decide(guess_for(AMBIGUOUS), current="es", default="es") == "es"
    assert decide(guess_for(AMBIGUOUS), current="pt", default="es") == "pt"
    assert decide(guess_for(LEANS_PT), current="es", default="es") == "es"


def test_clear_evidence_switches():
    assert decide(guess_for(CLEAR_EN), current="es", default="es") == "en"


def test_first_message_uses_the_best_guess_then_the_hint():
    assert decide(guess_for(LEANS_PT), current=None, default="es") == "pt"
    tie = {"es": 0.5, "pt": 0.5, "en": 0.0}
    assert decide(guess_for(tie, hint="pt"), current=None, default="es") == "pt"
    assert decide(guess_for(tie, hint="es"), current=None, default="en") == "es"


def test_hint_never_beats_the_conversation():
    assert decide(guess_for(AMBIGUOUS, hint="en"), current="pt", default="es") == "pt"


def test_nothing_to_go_on_keeps_current_or_falls_back():
    empty = LanguageGuess({"es": 1 / 3, "en": 1 / 3, "pt": 1 / 3}, word_count=0)
    assert decide(empty, current="en", default="es") == "en"
    assert decide(empty, current=None, default="es") == "es"
    assert decide(replace(empty, hint="pt"), current=None, default="es") == "pt"
    assert decide(None, current=None, default="es") == "es"


def test_explicit_request_wins_and_lock_holds_until_asked_again():
    assert (
        decide(guess_for(CLEAR_EN, explicit="pt"), current="es", default="es") == "pt"
    )
    assert decide(guess_for(CLEAR_EN), current="pt", default="es", locked=True) == "pt"
    assert (
        decide(
            guess_for(CLEAR_EN, explicit="es"), current="pt", default="es", locked=True
        )
        == "es"
    )


def test_foreign_message_does_not_move_the_language():
    foreign = guess_for(CLEAR_EN, foreign="de")
    assert decide(foreign, current="pt", default="es") == "pt"
    assert decide(foreign, current=None, default="es") == "es"


def test_guess_round_trips_through_parse_data():
    guess = LanguageGuess(
        {"es": 0.7, "pt": 0.3}, explicit="pt", foreign=None, word_count=2, hint="pt"
    )
    assert LanguageGuess.from_dict(guess.as_dict()) == guess


def test_markers_of_two_languages_never_overlap_nor_include_neutral_words():
    profiles = {
        code: {
            str(m)
            for m in yaml.safe_load((PROFILES_DIR / f"{code}.yml").read_text())[
                "markers"
            ]
        }
        for code in ("es", "en", "pt")
    }
    neutral = set(yaml.safe_load((PROFILES_DIR / "neutral.yml").read_text())["words"])
    for code, markers in profiles.items():
        assert not markers & neutral, (code, markers & neutral)
    codes = sorted(profiles)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            assert not profiles[a] & profiles[b], (a, b, profiles[a] & profiles[b])


def test_a_language_without_a_profile_is_a_clear_error(tmp_path: Path):
    (tmp_path / "es.yml").write_text((PROFILES_DIR / "es.yml").read_text())
    with pytest.raises(ValueError, match="no language profile for 'fr'"):
        LanguageIdentifier(["es", "fr"], profiles_dir=tmp_path)


def test_an_unquoted_yaml_boolean_in_a_profile_is_a_clear_error(tmp_path: Path):
    (tmp_path / "es.yml").write_text(
        "code: es\nnames: [espanol]\nmarkers: [hola, no]\n"
    )
    with pytest.raises(ValueError, match="quote it"):
        LanguageIdentifier(["es"], profiles_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "current", "language"),
    [
        # Words no list knows, made by a language's own endings of a common word.
        ("cansadisima", "pt", "es"),
        ("caloron", "pt", "es"),
        ("recarguita", "en", "es"),
        ("cansadissima", "es", "pt"),
        ("aguinha", "es", "pt"),
    ],
)
def test_a_word_derived_by_a_languages_endings_switches_to_it(
    identifier, text, current, language
):
    assert decide(identifier.guess(text), current=current, default="es") == language


def test_an_ending_counts_only_for_its_language_and_only_on_unknown_words(
    identifier,
):
    assert identifier._derived("caloron", "es")
    assert not identifier._derived("caloron", "pt")  # Portuguese says "calorao"
    assert not identifier._derived("carrito", "es")  # a word the lists know
    assert not identifier._derived("zzzito", "es")  # no common word under it


def test_an_unquoted_yaml_boolean_among_derivations_is_a_clear_error(tmp_path: Path):
    data = yaml.safe_load((PROFILES_DIR / "es.yml").read_text())
    data["derivations"] = {True: ""}  # what YAML makes of an unquoted "on"
    (tmp_path / "es.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="quote both sides"):
        LanguageIdentifier(["es"], profiles_dir=tmp_path)


def test_no_marker_is_a_common_word_of_another_language(identifier):
    """A marker must point to one language: "son" (Spanish "they are") cannot mark
    English, nor "porque" Portuguese. Common = a frequency of 1e-5 or more there,
    unless the word is five times more frequent in its own language."""
    frequencies = identifier._frequencies
    for code, profile in identifier.profiles.items():
        own = frequencies[code]
        for marker in profile.markers:
            for other, table in frequencies.items():
                theirs = table.get(marker, 0.0)
                if other != code and theirs >= 1e-5:
                    assert theirs <= own.get(marker, 0.0) / 5, (code, marker, other)


def test_every_marker_on_its_own_reads_as_its_language(identifier):
    """A marker is a word of its language even where another language's corpus has
    it and ours has not: "bacano" (Spanish, 1.4e-6 in Portuguese's list, absent from
    Spanish's), "kd" (Portuguese "cadê", rarer in Portuguese's list than English's)."""
    misread = [
        (code, marker, best(identifier, marker))
        for code, profile in identifier.profiles.items()
        for marker in sorted(profile.markers)
        if best(identifier, marker) != code
    ]
    assert not misread


def training_examples(intents: set[str]) -> list[tuple[str, str]]:
    found = []
    for path in sorted((PROFILES_DIR.parents[1] / "data" / "nlu").glob("*/*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if item.get("intent") in intents:
                found += [
                    (path.parent.name, line.strip()[2:].strip())
                    for line in item["examples"].splitlines()
                    if line.strip()
                ]
    return found


def test_every_refusal_the_model_learnt_has_a_refusal_word():
    """answers_where must never turn a refusal of the training data into a place."""
    refusals = training_examples({"deny", "later"})
    assert len(refusals) > 150
    taken_for_places = [
        (lang, text)
        for lang, text in refusals
        if answers_where(f"estoy en tapachula {text}")
    ]
    assert taken_for_places == []


@pytest.mark.parametrize(
    ("text", "answers"),
    [
        ("estoy en narnia", True),
        ("ando por la terminal de lajas blancas", True),
        ("we are in springfield", True),
        ("to na rodoviaria de boa vista", True),
        ("no, estoy en casa", False),
        ("not now, i'm at work", False),
        ("depois, estou no trabalho", False),
        ("narnia", False),  # a bare name: the model and the form decide
        ("hola", False),
    ],
)
def test_a_message_that_says_where_the_person_is(text, answers):
    assert answers_where(text) is answers
