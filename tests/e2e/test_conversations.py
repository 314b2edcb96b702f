"""Whole conversations through the running stack; every reply's language is checked."""

from __future__ import annotations

import itertools
import uuid

import pytest

PHRASES = {
    "es": {
        "greet": "hola buenas",
        "ask": "donde hay un albergue",
        "place": "estoy en tapachula",
        "help": "necesito ayuda porfa",
        "thanks": "muchas gracias",
    },
    "en": {
        "greet": "hi there",
        "ask": "where can i find a shelter",
        "place": "im in tapachula",
        "help": "i need help please",
        "thanks": "thank you so much",
    },
    "pt": {
        "greet": "oi tudo bem",
        "ask": "onde tem um abrigo",
        "place": "estou em pacaraima",
        "help": "preciso de ajuda por favor",
        "thanks": "muito obrigado",
    },
}


def new_sender() -> str:
    return uuid.uuid4().hex


def languages(replies) -> set[str | None]:
    return {reply.language for reply in replies}


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(PHRASES, 2)))
def test_replies_follow_the_person_when_they_switch(chat, first, second):
    sender = new_sender()
    script = [
        (PHRASES[first]["greet"], first),
        (PHRASES[first]["ask"], first),
        (PHRASES[first]["place"], first),
        (PHRASES[second]["help"], second),
        ("ok", second),  # shared by all three: the conversation's language holds
        (PHRASES[second]["thanks"], second),
        (PHRASES[first]["thanks"], first),
        ("no", first),
    ]
    for text, expected in script:
        assert languages(chat.say(sender, text)) == {expected}, text


def test_a_search_asks_for_what_is_missing(chat):
    sender = new_sender()
    assert "ciudad" in chat.say(sender, "necesito comida")[0].text
    reply = chat.say(sender, "estoy en cucuta")[0].text
    assert reply.startswith("Buscas comida cerca de Cúcuta.")


def test_a_place_the_model_does_not_know_still_answers_the_question(chat):
    sender = new_sender()
    chat.say(sender, "necesito un abogado")
    reply = chat.say(sender, "san lucas toliman")[0]
    # Resolved offline; the nearest legal help is farther than 50 km, and it says so.
    assert "50 km de San Lucas Tolimán." in reply.text


def test_explicit_choice_wins_and_sticks_until_asked_again(chat):
    sender = new_sender()
    assert languages(chat.say(sender, "hola")) == {"es"}
    assert languages(chat.say(sender, "english please")) == {"en"}
    # Spanish again, but the person chose English: English it stays.
    assert languages(chat.say(sender, "necesito ayuda porfa")) == {"en"}
    assert languages(chat.say(sender, "em português por favor")) == {"pt"}
    assert languages(chat.say(sender, "where can i find a shelter")) == {"pt"}


def test_language_menu_buttons(chat):
    sender = new_sender()
    menu = chat.say(sender, "idioma")
    assert {b["title"] for b in menu[0].buttons} == {"Español", "English", "Português"}
    payload = next(b["payload"] for b in menu[0].buttons if b["title"] == "Português")
    assert payload == '/choose_language{"language": "pt"}'
    assert languages(chat.say(sender, payload)) == {"pt"}


def test_a_forged_language_choice_changes_nothing(chat):
    sender = new_sender()
    chat.say(sender, "hello")
    replies = chat.say(sender, '/choose_language{"language": "xx"}')
    assert languages(replies) == {"en"}


def test_channel_hint_decides_an_ambiguous_first_message(chat):
    assert languages(chat.say(new_sender(), "ok", language_code="pt-BR")) == {"pt"}
    assert languages(chat.say(new_sender(), "ok", language_code="en-US")) == {"en"}


def test_a_hint_never_overrides_what_the_person_writes(chat):
    assert languages(chat.say(new_sender(), "hola buenas", language_code="en-US")) == {
        "es"
    }


def test_emergency_numbers_come_first(chat):
    reply = chat.say(new_sender(), "someone is following me help")[0]
    assert reply.language == "en"
    assert reply.text.startswith("If you are in danger now, call right away")


def test_danger_interrupts_a_search(chat):
    sender = new_sender()
    assert "ciudad" in chat.say(sender, "necesito ropa")[0].text
    # Not taken as the place the form asked for: the danger reply comes first.
    reply = chat.say(sender, "ayuda me estan siguiendo")[0]
    assert reply.text.startswith("Si estás en peligro ahora")
    # Coming back to the search later, what was known is not asked again.
    assert chat.say(sender, "estoy en tapachula")[0].text.startswith(
        "Buscas ropa, cobijas o kits de higiene cerca de Tapachula."
    )


def test_danger_in_another_language_interrupts_a_search(chat):
    sender = new_sender()
    chat.say(sender, "necesito comida")
    reply = chat.say(sender, "someone is following me")[0]
    assert reply.language == "en"
    assert reply.text.startswith("If you are in danger now")


@pytest.mark.parametrize(
    ("text", "expected_start"),
    [
        ("", "No pude leer tu mensaje"),
        ("😀😀🙏", "No pude leer tu mensaje"),
        ("x" * 10_000, "No pude leer tu mensaje"),
        ("?!?!...", "No pude leer tu mensaje"),
        (
            "ich brauche hilfe bitte",
            "Lo siento, solo hablo español, inglés y portugués",
        ),
        ("bonjour je cherche un abri pour ce soir", "Lo siento, solo hablo español"),
    ],
)
def test_bad_input_gets_a_short_kind_reply(chat, text, expected_start):
    sender = new_sender()
    chat.say(sender, "hola")
    replies = chat.say(sender, text)
    assert replies[0].text.startswith(expected_start)
    assert "Traceback" not in replies[0].text


def test_control_characters_are_read_as_the_words_around_them(chat):
    replies = chat.say(new_sender(), "\x00\x01hola\x07")
    assert replies[0].text.startswith("¡Hola! Soy un asistente automático")


def test_ten_thousand_characters_of_words_get_an_answer(chat):
    replies = chat.say(new_sender(), "necesito ayuda " * 700)
    assert languages(replies) == {"es"}


def test_malformed_requests_get_a_clear_error(chat):
    assert chat.post({"message": "hola"})[0] == 400
    status, body = chat.post({"sender": "abcdefgh", "message": 7})
    assert (status, body) == (400, {"error": "'message' must be a string"})


def test_the_chat_page_is_served_locally(chat):
    import urllib.request

    with urllib.request.urlopen(f"{chat.base}/webhooks/webchat/", timeout=10) as page:
        html = page.read().decode()
    assert "<form" in html and "webhook" in html
    assert "http://" not in html and "https://" not in html  # nothing from outside


@pytest.mark.parametrize(
    ("search", "danger", "start"),
    [
        ("necesito comida", "me estan siguiendo en tapachula", "Si estás en peligro"),
        ("i need food", "someone is following me in tapachula", "If you are in danger"),
        ("preciso de comida", "tem alguem me seguindo em boa vista", "Se você está em"),
        (
            "necesito un albergue",
            "ayuda me estan siguiendo y necesito un albergue",
            "Si estás en peligro",
        ),
    ],
)
def test_danger_naming_a_place_or_service_is_not_taken_as_an_answer(
    chat, search, danger, start
):
    sender = new_sender()
    chat.say(sender, search)
    assert chat.say(sender, danger)[0].text.startswith(start)


DANGER_STARTS = (
    "Si estás en peligro",
    "If you are in danger",
    "Se você está em perigo",
)


@pytest.mark.parametrize(
    ("text", "line"),
    [("ya no quiero vivir", "988"), ("i want to die", "988"), ("quero morrer", "188")],
)
def test_thoughts_of_suicide_get_the_numbers_first(chat, text, line):
    reply = chat.say(new_sender(), text)[0]
    assert reply.text.startswith(DANGER_STARTS)
    assert line in reply.text


def test_saying_you_do_not_speak_a_language_does_not_switch_to_it(chat):
    sender = new_sender()
    chat.say(sender, "hola")
    assert languages(chat.say(sender, "no hablo ingles")) == {"es"}
    assert languages(chat.say(sender, "necesito comida porfa")) == {"es"}


def test_a_new_request_is_not_taken_as_the_place(chat):
    sender = new_sender()
    chat.say(sender, "necesito comida")
    reply = chat.say(sender, "mejor un albergue")[0]
    assert "albergue cerca de" not in reply.text
